"""Provision Metabase from the files beside this script: the warehouse connection and the dashboards.

Metabase's open-source edition cannot import dashboards from files, so this script
drives its REST API. Run by the one-shot `metabase-init` service once Metabase is
healthy (Python standard library only, so any Python 3.11 image runs it):

1. finish Metabase's first-run setup with the admin from the environment, or sign in;
2. connect the warehouse as the BI login (a member of c360_bi_reader, which reads
   `marts` only), syncing the `marts` schema only;
3. create or update the "Customer 360" collection, one card per cards/*.json (its SQL
   in the .sql file of the same name) and the dashboards in dashboards/*.json.

Everything is found by name and updated in place, so a second run changes nothing
and never duplicates; edits made in Metabase to provisioned cards are overwritten.

Environment: METABASE_URL, METABASE_ADMIN_EMAIL, METABASE_ADMIN_PASSWORD,
METABASE_SITE_NAME, C360_BI_WAREHOUSE_URL (postgresql://login:password@host:port/db).
Passwords are sent to Metabase only, never printed.
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
CARDS_DIR = HERE / "cards"
DASHBOARDS_DIR = HERE / "dashboards"
COLLECTION_NAME = "Customer 360"
DATABASE_NAME = "Customer 360 warehouse"
BI_SCHEMA = "marts"
# Metabase's own pattern for a variable in native SQL: {{name}}.
TEMPLATE_TAG = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
TAG_TYPES = {"text", "number", "date"}
DISPLAYS = {"table", "object", "line", "bar", "row", "area", "pie", "scalar"}
TAG_ID_NAMESPACE = uuid.UUID("6f1c1d0e-6a6c-4c36-9a33-0c360c360c36")


class ProvisioningError(RuntimeError):
    pass


# ---------------------------------------------------------------- definitions (files)


@dataclass(frozen=True)
class CardSpec:
    key: str  # file stem, how dashboards refer to the card
    name: str
    description: str
    display: str
    sql: str
    template_tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    visualization_settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DashboardSpec:
    key: str
    name: str
    description: str
    parameters: list[dict[str, Any]]
    cards: list[dict[str, Any]]


def load_card(path: Path) -> CardSpec:
    """A card from `<key>.json` and its SQL from `<key>.sql`; errors name the file and what to fix."""
    spec = _read_json(path)
    sql_path = path.with_suffix(".sql")
    if not sql_path.exists():
        raise ProvisioningError(f"{path}: its SQL file {sql_path.name} is missing")
    sql = sql_path.read_text().strip()
    for key in ("name", "display"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise ProvisioningError(f"{path}: `{key}` must be a non-empty string")
    if spec["display"] not in DISPLAYS:
        raise ProvisioningError(f"{path}: display {spec['display']!r} is not one of {sorted(DISPLAYS)}")
    tags = spec.get("template_tags", {})
    used = set(TEMPLATE_TAG.findall(sql))
    if set(tags) != used:
        raise ProvisioningError(
            f"{path}: template_tags {sorted(tags)} must match the {{{{...}}}} variables in {sql_path.name} {sorted(used)}"
        )
    for name, tag in tags.items():
        if tag.get("type") not in TAG_TYPES:
            raise ProvisioningError(f"{path}: template tag {name} needs a type, one of {sorted(TAG_TYPES)}")
    return CardSpec(
        key=path.stem,
        name=spec["name"],
        description=spec.get("description", ""),
        display=spec["display"],
        sql=sql,
        template_tags=tags,
        visualization_settings=spec.get("visualization_settings", {}),
    )


def load_cards(cards_dir: Path = CARDS_DIR) -> dict[str, CardSpec]:
    cards = {p.stem: load_card(p) for p in sorted(cards_dir.glob("*.json"))}
    names = [c.name for c in cards.values()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ProvisioningError(f"{cards_dir}: card names must be unique (cards are found by name): {duplicates}")
    return cards


def load_dashboard(path: Path, cards: Mapping[str, CardSpec]) -> DashboardSpec:
    spec = _read_json(path)
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        raise ProvisioningError(f"{path}: `name` must be a non-empty string")
    layout = spec.get("cards", [])
    for place in layout:
        if place.get("card") not in cards:
            raise ProvisioningError(f"{path}: card {place.get('card')!r} has no file cards/{place.get('card')}.json")
        for key in ("row", "col", "size_x", "size_y"):
            if not isinstance(place.get(key), int) or place[key] < 0:
                raise ProvisioningError(f"{path}: card {place['card']} needs a non-negative integer {key}")
        if place["col"] + place["size_x"] > 24:
            raise ProvisioningError(f"{path}: card {place['card']} is wider than Metabase's 24-column grid")
    placed = {p["card"] for p in layout}
    for parameter in spec.get("parameters", []):
        for card_key, tag in parameter.get("targets", {}).items():
            if card_key not in placed:
                raise ProvisioningError(f"{path}: parameter {parameter['slug']} targets {card_key}, not on the dashboard")
            if tag not in cards[card_key].template_tags:
                raise ProvisioningError(f"{path}: parameter {parameter['slug']} targets unknown tag {tag} of {card_key}")
    return DashboardSpec(
        key=path.stem,
        name=spec["name"],
        description=spec.get("description", ""),
        parameters=spec.get("parameters", []),
        cards=layout,
    )


def load_dashboards(dashboards_dir: Path, cards: Mapping[str, CardSpec]) -> list[DashboardSpec]:
    return [load_dashboard(p, cards) for p in sorted(dashboards_dir.glob("*.json"))]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ProvisioningError(f"{path}: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ProvisioningError(f"{path}: expected a JSON object")
    return data


# ---------------------------------------------------------------- request bodies (pure)


@dataclass(frozen=True)
class ProvisionSettings:
    url: str
    admin_email: str
    admin_password: str
    bi_warehouse_url: str
    site_name: str = "Customer 360"

    def __repr__(self) -> str:
        return f"ProvisionSettings(url={self.url!r}, admin_email={self.admin_email!r}, passwords='***')"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "ProvisionSettings":
        missing = [
            name
            for name in ("METABASE_ADMIN_EMAIL", "METABASE_ADMIN_PASSWORD", "C360_BI_WAREHOUSE_URL")
            if not env.get(name)
        ]
        if missing:
            raise ProvisioningError(f"set {', '.join(missing)} (see .env.example)")
        return cls(
            url=env.get("METABASE_URL", "") or "http://metabase:3000",
            admin_email=env["METABASE_ADMIN_EMAIL"],
            admin_password=env["METABASE_ADMIN_PASSWORD"],
            bi_warehouse_url=env["C360_BI_WAREHOUSE_URL"],
            site_name=env.get("METABASE_SITE_NAME", "") or "Customer 360",
        )


def setup_payload(token: str, settings: ProvisionSettings) -> dict[str, Any]:
    """POST /api/setup: the first admin and the instance preferences."""
    return {
        "token": token,
        "user": {
            "first_name": "Customer 360",
            "last_name": "Admin",
            "email": settings.admin_email,
            "password": settings.admin_password,
        },
        "prefs": {"site_name": settings.site_name, "site_locale": "en", "allow_tracking": False},
    }


def database_payload(bi_warehouse_url: str, name: str = DATABASE_NAME) -> dict[str, Any]:
    """POST/PUT /api/database: the warehouse as the BI login, syncing the marts schema only."""
    parts = urlsplit(bi_warehouse_url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not parts.username:
        raise ProvisioningError(
            "C360_BI_WAREHOUSE_URL must look like postgresql://c360_bi:password@warehouse:5432/customer360"
        )
    return {
        "name": name,
        "engine": "postgres",
        "details": {
            "host": parts.hostname,
            "port": parts.port or 5432,
            "dbname": unquote(parts.path.lstrip("/")) or "customer360",
            "user": unquote(parts.username),
            "password": unquote(parts.password or ""),
            "ssl": False,
            "schema-filters-type": "inclusion",
            "schema-filters-patterns": BI_SCHEMA,
        },
        "is_full_sync": True,
    }


def template_tag_id(card_key: str, tag: str) -> str:
    """A stable id per card and tag, so re-provisioning keeps dashboard filter mappings valid."""
    return str(uuid.uuid5(TAG_ID_NAMESPACE, f"{card_key}/{tag}"))


def native_query(card: CardSpec, database_id: int) -> dict[str, Any]:
    tags = {
        name: {
            "id": template_tag_id(card.key, name),
            "name": name,
            "display-name": tag.get("display_name", name),
            "type": tag["type"],
            "required": bool(tag.get("required", False)),
            **({"default": tag["default"]} if "default" in tag else {}),
        }
        for name, tag in card.template_tags.items()
    }
    return {"type": "native", "database": database_id, "native": {"query": card.sql, "template-tags": tags}}


def card_payload(card: CardSpec, database_id: int, collection_id: int) -> dict[str, Any]:
    """POST/PUT /api/card: a saved native-SQL question in the provisioned collection."""
    return {
        "name": card.name,
        "description": card.description or None,
        "type": "question",
        "display": card.display,
        "dataset_query": native_query(card, database_id),
        "visualization_settings": card.visualization_settings,
        "collection_id": collection_id,
    }


def dashboard_parameters(dashboard: DashboardSpec) -> list[dict[str, Any]]:
    return [
        {
            "id": parameter["slug"],
            "name": parameter["name"],
            "slug": parameter["slug"],
            "type": parameter.get("type", "string/="),
            "sectionId": parameter.get("type", "string/=").split("/")[0],
        }
        for parameter in dashboard.parameters
    ]


def dashcards_payload(
    dashboard: DashboardSpec, card_ids: Mapping[str, int], existing: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The dashboard's cards for PUT /api/dashboard/:id, which replaces the whole set.

    A card already on the dashboard keeps its dashcard id (it is updated, not recreated);
    new ones get negative ids, which Metabase reads as "create"; cards not in the file go.
    """
    existing_ids = {}
    for dashcard in existing:
        existing_ids.setdefault(dashcard.get("card_id"), dashcard["id"])
    dashcards = []
    for index, place in enumerate(dashboard.cards, start=1):
        card_id = card_ids[place["card"]]
        mappings = [
            {
                "parameter_id": parameter["slug"],
                "card_id": card_id,
                "target": ["variable", ["template-tag", parameter["targets"][place["card"]]]],
            }
            for parameter in dashboard.parameters
            if place["card"] in parameter.get("targets", {})
        ]
        dashcards.append(
            {
                "id": existing_ids.pop(card_id, -index),
                "card_id": card_id,
                "row": place["row"],
                "col": place["col"],
                "size_x": place["size_x"],
                "size_y": place["size_y"],
                "parameter_mappings": mappings,
                "visualization_settings": {},
                "series": [],
            }
        )
    return dashcards


def dashboard_payload(
    dashboard: DashboardSpec, card_ids: Mapping[str, int], existing_dashcards: list[dict[str, Any]]
) -> dict[str, Any]:
    """PUT /api/dashboard/:id: name, description, filters and the full layout."""
    return {
        "name": dashboard.name,
        "description": dashboard.description,
        "parameters": dashboard_parameters(dashboard),
        "dashcards": dashcards_payload(dashboard, card_ids, existing_dashcards),
    }


# ---------------------------------------------------------------- talking to Metabase


class Api(Protocol):
    session: str | None

    def call(self, method: str, path: str, body: Any = None) -> Any: ...


class MetabaseApi:
    """JSON over HTTP with the session header once signed in."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session: str | None = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.session:
            request.add_header("X-Metabase-Session", self.session)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode() or "null"
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            # the request body holds passwords: report the endpoint and Metabase's answer only
            raise ProvisioningError(f"{method} {path} answered {exc.code}: {detail}") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text


def wait_until_healthy(api: MetabaseApi, timeout_s: float = 600.0, every_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if (api.call("GET", "/api/health") or {}).get("status") == "ok":
                return
        except (ProvisioningError, OSError):
            pass
        if time.monotonic() > deadline:
            raise ProvisioningError(f"Metabase at {api.base_url} was not healthy after {timeout_s:.0f} s")
        time.sleep(every_s)


def sign_in(api: Api, settings: ProvisionSettings) -> str:
    """Finish the first-run setup, or log in; returns "setup" or "login"."""
    properties = api.call("GET", "/api/session/properties")
    verb = "login"
    if not properties.get("has-user-setup"):
        answer = api.call("POST", "/api/setup", setup_payload(properties["setup-token"], settings))
        verb = "setup"
    else:
        try:
            answer = api.call(
                "POST", "/api/session", {"username": settings.admin_email, "password": settings.admin_password}
            )
        except ProvisioningError as exc:
            raise ProvisioningError(
                f"cannot log in to Metabase as {settings.admin_email}: {exc}. Metabase keeps the admin "
                "password from its first setup; put that one in METABASE_ADMIN_PASSWORD."
            ) from None
    api.session = answer["id"]
    return verb


def _rows(answer: Any) -> list[dict[str, Any]]:
    """List endpoints answer either a list or {"data": [...]}, depending on the version."""
    return answer.get("data", []) if isinstance(answer, dict) else list(answer or [])


def ensure_database(api: Api, payload: dict[str, Any]) -> int:
    found = [d for d in _rows(api.call("GET", "/api/database")) if d.get("name") == payload["name"]]
    if found:
        database_id = found[0]["id"]
        api.call("PUT", f"/api/database/{database_id}", payload)
    else:
        database_id = api.call("POST", "/api/database", payload)["id"]
    api.call("POST", f"/api/database/{database_id}/sync_schema")
    return database_id


def ensure_collection(api: Api, name: str = COLLECTION_NAME) -> int:
    for collection in _rows(api.call("GET", "/api/collection")):
        if collection.get("name") == name and not collection.get("archived") and not collection.get(
            "personal_owner_id"
        ) and isinstance(collection.get("id"), int):
            return collection["id"]
    return api.call(
        "POST", "/api/collection", {"name": name, "description": "Provisioned from docker/metabase/", "parent_id": None}
    )["id"]


def collection_items(api: Api, collection_id: int, model: str) -> dict[str, int]:
    items = _rows(api.call("GET", f"/api/collection/{collection_id}/items?models={model}"))
    found: dict[str, int] = {}
    for item in items:
        if item.get("model", model) == model:
            found.setdefault(item["name"], item["id"])
    return found


def ensure_cards(
    api: Api, cards: Mapping[str, CardSpec], database_id: int, collection_id: int
) -> tuple[dict[str, int], dict[str, str]]:
    existing = collection_items(api, collection_id, "card")
    ids, done = {}, {}
    for key, card in cards.items():
        payload = card_payload(card, database_id, collection_id)
        if card.name in existing:
            ids[key] = existing[card.name]
            api.call("PUT", f"/api/card/{ids[key]}", payload)
            done[card.name] = "updated"
        else:
            ids[key] = api.call("POST", "/api/card", payload)["id"]
            done[card.name] = "created"
    return ids, done


def ensure_dashboard(api: Api, dashboard: DashboardSpec, card_ids: Mapping[str, int], collection_id: int) -> str:
    existing = collection_items(api, collection_id, "dashboard")
    verb = "updated"
    if dashboard.name in existing:
        dashboard_id = existing[dashboard.name]
    else:
        dashboard_id = api.call(
            "POST",
            "/api/dashboard",
            {"name": dashboard.name, "description": dashboard.description, "collection_id": collection_id},
        )["id"]
        verb = "created"
    current = api.call("GET", f"/api/dashboard/{dashboard_id}")
    api.call(
        "PUT", f"/api/dashboard/{dashboard_id}", dashboard_payload(dashboard, card_ids, current.get("dashcards", []))
    )
    return verb


def provision(
    api: Api, settings: ProvisionSettings, cards: Mapping[str, CardSpec], dashboards: list[DashboardSpec]
) -> list[str]:
    """Everything after Metabase is up; returns one line per thing done, without secrets."""
    lines = [f"metabase: {sign_in(api, settings)} as {settings.admin_email}"]
    database = database_payload(settings.bi_warehouse_url)
    database_id = ensure_database(api, database)
    lines.append(f"database {DATABASE_NAME!r} (id {database_id}) as login {database['details']['user']}")
    collection_id = ensure_collection(api)
    card_ids, done = ensure_cards(api, cards, database_id, collection_id)
    lines += [f"card {name!r}: {verb}" for name, verb in done.items()]
    for dashboard in dashboards:
        lines.append(f"dashboard {dashboard.name!r}: {ensure_dashboard(api, dashboard, card_ids, collection_id)}")
    return lines


def main(env: Mapping[str, str] | None = None) -> int:
    import os

    try:
        settings = ProvisionSettings.from_env(os.environ if env is None else env)
        cards = load_cards()
        dashboards = load_dashboards(DASHBOARDS_DIR, cards)
        api = MetabaseApi(settings.url)
        wait_until_healthy(api)
        for line in provision(api, settings, cards, dashboards):
            print(line, flush=True)
    except ProvisioningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
