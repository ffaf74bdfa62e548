"""The documentation site: it builds with strict link and anchor checks, the README stays short
and its links land on pages of the site, and every setting the code reads is documented."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from customer360.config import PROJECT_ROOT, Settings

DOCS = PROJECT_ROOT / "docs"
README = PROJECT_ROOT / "README.md"
CONFIGURATION = DOCS / "configuration.md"
# A setting's name: WAREHOUSE_URL or C360_..., not a prefix such as `C360_PG*` in a comment.
SETTING = re.compile(r"\b(WAREHOUSE_URL|C360_[A-Z0-9_]*[A-Z0-9])\b(?![A-Z0-9_*])")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = _mkdocs_build(PROJECT_ROOT / "mkdocs.yml", out)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def test_the_site_builds_with_strict_link_checks(site: Path) -> None:
    assert (site / "index.html").is_file()
    for page in DOCS.glob("*.md"):
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), f"{page.name} was not built (is it in mkdocs.yml's nav?)"


def test_the_strict_build_fails_on_a_broken_anchor(tmp_path: Path) -> None:
    """The check is real: a link to a heading that does not exist fails the build."""
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(PROJECT_ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with (tmp_path / "docs" / "index.md").open("a") as f:
        f.write("\nSee [nowhere](operations.md#no-such-heading).\n")
    result = _mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-heading" in result.stdout + result.stderr


def test_every_docs_page_is_in_the_nav() -> None:
    config = yaml.load((PROJECT_ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)

    def pages(entries: list) -> set[str]:
        found: set[str] = set()
        for entry in entries:
            for value in entry.values():
                found |= pages(value) if isinstance(value, list) else {value}
        return found

    assert pages(config["nav"]) == {p.name for p in DOCS.glob("*.md")}


def test_the_readme_is_short_and_keeps_the_two_commands() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    assert "## The two commands" in text
    assert "make demo   #" in text and "make test   #" in text


def _anchors(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def test_the_readme_links_resolve_to_pages_of_the_site(site: Path) -> None:
    links = [link for link in LINK.findall(README.read_text()) if not link.startswith(("http://", "https://"))]
    assert links, "the README links into docs/"
    into_docs = 0
    for link in links:
        path, _, anchor = link.partition("#")
        target = (PROJECT_ROOT / path).resolve()
        assert target.exists(), f"README links to {link}, which does not exist"
        if target.parent != DOCS or target.suffix != ".md":
            continue
        into_docs += 1
        built = site / ("index.html" if target.stem == "index" else f"{target.stem}/index.html")
        assert built.is_file(), f"README links to {link}, which is not a page of the site"
        if anchor:
            assert anchor in _anchors(built.read_text()), f"README links to {link}: no such heading on the page"
    assert into_docs >= 10


def _settings_read_in_code() -> set[str]:
    names: set[str] = set()
    for folder in ("src", "dags"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            names |= set(SETTING.findall(path.read_text()))
    for path in (PROJECT_ROOT / "dbt_project").glob("*.yml"):
        names |= set(SETTING.findall(path.read_text()))
    return names


def test_every_setting_the_code_reads_is_in_configuration_md() -> None:
    documented = set(re.findall(r"`(WAREHOUSE_URL|C360_[A-Z0-9_]+)`", CONFIGURATION.read_text()))
    read = _settings_read_in_code()
    assert {"WAREHOUSE_URL", "C360_DATA_DIR", "C360_TASK_RETRIES", "C360_PSEUDONYM_KEY"} <= read
    missing = sorted(read - documented)
    assert not missing, f"read in src/ or dags/ but not documented in docs/configuration.md: {missing}"


def _documented_defaults() -> dict[str, str]:
    """The first table of docs/configuration.md (the Settings.from_env one): name -> default."""
    text = CONFIGURATION.read_text()
    table = text[text.index("## Pipeline settings") :].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]+) \|", table, flags=re.M)
    return {name: default.strip().strip("`") for name, default in rows}


def test_the_settings_table_matches_settings_from_env() -> None:
    source = Path(sys.modules[Settings.__module__].__file__).read_text()
    from_env = source[source.index("def from_env") : source.index("def __post_init__")]
    read_by_from_env = set(SETTING.findall(from_env))
    documented = _documented_defaults()
    assert set(documented) == read_by_from_env, "the table lists exactly what Settings.from_env reads"

    defaults = Settings.from_env({"WAREHOUSE_URL": "postgresql://someone@somewhere:5432/somedb"})
    for name, written in documented.items():
        if name == "WAREHOUSE_URL":
            continue
        value = getattr(defaults, name.removeprefix("C360_").lower())
        if isinstance(value, Path):
            value = value.relative_to(PROJECT_ROOT).as_posix() + "/"
        same = written == str(value) or (isinstance(value, (int, float)) and float(written) == value)
        assert same, f"{name}: docs/configuration.md says {written}, Settings.from_env has {value}"
