"""Value pools drawn once from Faker (seeded), then sampled with numpy.

Faker is only called a few thousand times per run, whatever the population,
so the population itself can be generated with vectorised numpy sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faker import Faker

# Formal first name -> nicknames people use for themselves or agents write down.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Billy"),
    "Elizabeth": ("Liz", "Beth", "Lizzie"),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Catherine": ("Cathy", "Kate"),
    "John": ("Jon", "Johnny", "Jack"),
    "Jonathan": ("Jon", "Jonny"),
    "Michael": ("Mike", "Mick", "Mikey"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Richard": ("Rich", "Dick", "Richie"),
    "Thomas": ("Tom", "Tommy"),
    "Christopher": ("Chris", "Kit"),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony", "Ant"),
    "Joseph": ("Joe", "Joey"),
    "Edward": ("Ed", "Ted", "Eddie"),
    "Samuel": ("Sam",),
    "Benjamin": ("Ben",),
    "Alexander": ("Alex", "Sandy"),
    "Nicholas": ("Nick", "Nicky"),
    "Steven": ("Steve",),
    "Stephen": ("Steve",),
    "David": ("Dave", "Davy"),
    "Andrew": ("Andy", "Drew"),
    "Peter": ("Pete",),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Jennifer": ("Jen", "Jenny"),
    "Rebecca": ("Becky", "Becca"),
    "Victoria": ("Vicky", "Tori"),
    "Susan": ("Sue", "Susie"),
    "Deborah": ("Debbie", "Deb"),
    "Patricia": ("Pat", "Trish"),
    "Samantha": ("Sam",),
    "Jessica": ("Jess",),
    "Charlotte": ("Charlie", "Lottie"),
    "Abigail": ("Abby",),
    "Alexandra": ("Alex", "Lexi"),
    "Christine": ("Chris", "Chrissie"),
    "Josephine": ("Jo", "Josie"),
    "Eleanor": ("Ellie", "Nell"),
    "Jacqueline": ("Jackie",),
}

MALE_FORMAL = [
    "Robert",
    "William",
    "John",
    "Jonathan",
    "Michael",
    "James",
    "Richard",
    "Thomas",
    "Christopher",
    "Daniel",
    "Matthew",
    "Anthony",
    "Joseph",
    "Edward",
    "Samuel",
    "Benjamin",
    "Alexander",
    "Nicholas",
    "Steven",
    "Stephen",
    "David",
    "Andrew",
    "Peter",
]
FEMALE_FORMAL = [
    "Elizabeth",
    "Katherine",
    "Catherine",
    "Margaret",
    "Jennifer",
    "Rebecca",
    "Victoria",
    "Susan",
    "Deborah",
    "Patricia",
    "Samantha",
    "Jessica",
    "Charlotte",
    "Abigail",
    "Alexandra",
    "Christine",
    "Josephine",
    "Eleanor",
    "Jacqueline",
]

EMAIL_DOMAINS = np.array(
    [
        "gmail.com",
        "hotmail.co.uk",
        "yahoo.co.uk",
        "outlook.com",
        "btinternet.com",
        "icloud.com",
        "sky.com",
        "live.co.uk",
        "aol.com",
        "protonmail.com",
    ]
)
EMAIL_DOMAIN_WEIGHTS = np.array([0.32, 0.16, 0.12, 0.1, 0.08, 0.08, 0.05, 0.04, 0.03, 0.02])

CONTACT_REASONS = np.array(
    [
        "order_status",
        "delivery_problem",
        "return_refund",
        "product_fault",
        "billing_query",
        "loyalty_points",
        "account_update",
        "store_experience",
        "other",
    ]
)
CONTACT_REASON_WEIGHTS = np.array([0.22, 0.16, 0.15, 0.1, 0.08, 0.09, 0.08, 0.05, 0.07])
# Probability that a call with this reason is logged as a complaint.
CONTACT_COMPLAINT_P = np.array([0.05, 0.45, 0.3, 0.4, 0.2, 0.05, 0.02, 0.5, 0.1])

CAMPAIGN_THEMES = [
    "New Year Sale",
    "Valentine's Picks",
    "Spring Refresh",
    "Easter Treats",
    "May Bank Holiday Deals",
    "Summer Essentials",
    "Summer Sale",
    "Back to School",
    "Autumn Collection",
    "Halloween Specials",
    "Black Friday",
    "Christmas Gift Guide",
]

SURVEY_COMMENTS: dict[int, tuple[str, ...]] = {
    1: (
        "Very disappointed",
        "Item arrived broken",
        "Terrible service, will not shop again",
        "Nobody answered my emails",
    ),
    2: ("Delivery was late", "Staff were unhelpful", "Not as described", "Took ages to get a refund"),
    3: ("It was ok", "Average experience", "Fine, nothing special", "Queue was long"),
    4: ("Good service", "Happy with my purchase", "Quick delivery", "Helpful staff, thanks"),
    5: ("Excellent, thank you!", "Brilliant service", "Love it, will buy again", "Fantastic staff in store"),
}

PAGE_PATHS = np.array(
    [
        "/",
        "/search",
        "/category/home",
        "/category/garden",
        "/category/kitchen",
        "/category/electronics",
        "/offers",
        "/account",
        "/help/delivery",
        "/stores",
    ]
)


@dataclass(frozen=True)
class Pools:
    male_first: np.ndarray
    male_first_w: np.ndarray
    female_first: np.ndarray
    female_first_w: np.ndarray
    last: np.ndarray
    last_w: np.ndarray
    streets: np.ndarray
    cities: np.ndarray
    postcodes: np.ndarray
    sku_prices: np.ndarray  # price in pence of SKU i (SKU0001 is index 0), ascending


def _zipf_weights(n: int, a: float, rng: np.random.Generator) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** a
    rng.shuffle(w)
    return w / w.sum()


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def build_pools(seed: int, people: int) -> Pools:
    """Draw every Faker-based pool once. Pool sizes grow slowly with the population."""
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    rng = np.random.default_rng([seed, 1])

    male = _unique([fake.first_name_male() for _ in range(1200)])
    female = _unique([fake.first_name_female() for _ in range(1200)])
    last = _unique([fake.last_name() for _ in range(2500)])
    # Formal names with nicknames are common in the UK population; give them a solid share.
    male = _unique(MALE_FORMAL + [m for m in male if m not in MALE_FORMAL])
    female = _unique(FEMALE_FORMAL + [f for f in female if f not in FEMALE_FORMAL])
    male_w = _zipf_weights(len(male), 0.9, rng)
    female_w = _zipf_weights(len(female), 0.9, rng)
    male_w[: len(MALE_FORMAL)] += 0.35 / len(MALE_FORMAL)
    female_w[: len(FEMALE_FORMAL)] += 0.35 / len(FEMALE_FORMAL)
    male_w /= male_w.sum()
    female_w /= female_w.sum()
    last_w = _zipf_weights(len(last), 1.0, rng)

    n_addr = int(min(max(1000, people // 8), 40_000))
    streets = _unique([fake.street_address().replace("\n", ", ") for _ in range(n_addr)])
    cities = _unique([fake.city() for _ in range(400)])
    postcodes = _unique([fake.postcode() for _ in range(n_addr)])

    prices = np.sort(np.round(np.exp(rng.normal(np.log(1500), 0.9, size=400))).astype(np.int64))
    prices = np.maximum(prices, 99)
    return Pools(
        male_first=np.array(male, dtype=object),
        male_first_w=male_w,
        female_first=np.array(female, dtype=object),
        female_first_w=female_w,
        last=np.array(last, dtype=object),
        last_w=last_w,
        streets=np.array(streets, dtype=object),
        cities=np.array(cities, dtype=object),
        postcodes=np.array(postcodes, dtype=object),
        sku_prices=prices,
    )
