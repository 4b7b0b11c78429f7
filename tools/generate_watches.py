"""Generate watches.json: a deterministic, deliberately messy watch catalogue.

It imitates an export of an old MySQL catalogue of luxury watches (TAG Heuer-style
references): one JSON array of objects that all carry the same eleven keys in
alphabetical order.  The loader and the REST API are meant to be tested against
the dirt real legacy exports contain, not against tidy fixtures, so we inject
(a small fraction each, every kind at least a few times):

* optional fields set to null (~10%) or to the empty string "";
* a leading byte-order mark "\ufeff" on some optional values, years and SKUs;
* trailing spaces and doubled interior spaces ("Steel ", "18K  Rose Gold");
* the same value in different case ("ROUND", "Round", "round");
* non-Latin or accented text ("ステンレス", "黑色", "Сталь", "Nacré", "Edelstahl");
* apostrophes ("Tiger's eye", "Men's alligator strap");
* odd but valid SKUs ("CAL5113..CI6298", a trailing "-", lower case), though a
  SKU never contains "/" or whitespace;
* ten records a careful loader must REJECT, two of each kind: sku null, sku
  empty, duplicate sku (one identical copy, one with other values), a year that
  is not an integer, a status outside the enum.

Every other record is valid once trivially cleaned (strip the BOM, strip
leading/trailing whitespace, int(year)).  The output depends only on --seed and
--count, so reruns are byte-identical; the count of each irregularity and the
SKUs of the records to reject are printed to stderr.
"""

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

DEFAULT_SEED = 1887
DEFAULT_COUNT = 4000
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "watches.json"
BOM = "\ufeff"


# The words records are made of; "values" and "movements" are the clean ones (a value
# listed twice is drawn twice as often), "foreign" and "apostrophes" the irregular ones.
VOCABULARY = json.loads(Path(__file__).with_name("watch_vocabulary.json").read_text("utf-8"))
VALUES = VOCABULARY["values"]
MOVEMENTS = VOCABULARY["movements"]
OPTIONAL_FIELDS = [*VALUES, "movement"]  # movement depends on the type
FOREIGN = VOCABULARY["foreign"]
APOSTROPHES = VOCABULARY["apostrophes"]
PREFIXES = VOCABULARY["sku_prefixes"]
SUFFIX_LETTERS = ["BA", "FT", "FC", "BD", "EB", "BF", "FK", "CI"]
# Irregularity applied to one optional value -> its weight in percent.
FIELD_KINDS = {
    "clean": 80,
    "null": 10,
    "empty": 1,
    "bom": 1.5,
    "whitespace": 2,
    "case": 3,
    "foreign": 1.5,
    "apostrophe": 1,
}
# Fatal defects: each is applied to an otherwise clean record, then reported.
DEFECTS = [
    ({"sku": None}, "sku is null"),
    ({"sku": None}, "sku is null"),
    ({"sku": ""}, "sku is empty"),
    ({"sku": ""}, "sku is empty"),
    ({"year": "n/a"}, "year is not an integer"),
    ({"year": "19xx"}, "year is not an integer"),
    ({"status": "discontinued"}, "status outside the enum"),
    ({"status": "archived"}, "status outside the enum"),
]


def make_sku(rng: random.Random, kind: str) -> str:
    """A plausible reference: CAR2110.BA0724, CBN2A1A.BA0643, WAY111A.BA0928-AM."""
    prefix = rng.choice(PREFIXES[kind])
    if rng.random() < 0.1:  # CBN2A1A style
        body = f"{rng.randint(1, 9)}{rng.choice('ABC')}{rng.randint(1, 9)}A"
    else:
        body = str(rng.randint(100, 9999)) + rng.choice(["", "", "", "", "A", "B"])
    sku = prefix + body
    if rng.random() < 0.8:
        sku += f".{rng.choice(SUFFIX_LETTERS)}{rng.randint(0, 9999):04d}"
    if rng.random() < 0.05:
        sku += "-" + rng.choice(["AM", "NL", "US", "CH"])
    return sku


def make_clean(rng: random.Random, taken: set[str]) -> dict:
    """A record that already satisfies the contract, with a sku not in ``taken``."""
    kind = "chrono" if rng.random() < 0.4 else "watch"
    sku = make_sku(rng, kind)
    while sku in taken:
        sku = make_sku(rng, kind)
    taken.add(sku)
    year = rng.randint(1990, 2026)
    status = "current"
    if year < 2019:
        status = rng.choices(["old", "outlet", "current"], weights=[6, 2, 1])[0]
    rec = {f: rng.choice(VALUES.get(f, MOVEMENTS[kind])) for f in OPTIONAL_FIELDS}
    rec.update(sku=sku, type=kind, status=status, year=str(year))
    rec["gender"] = "woman" if rng.random() < 0.25 else "man"
    return rec


def dirty_value(rng: random.Random, field: str, value: str, kind: str) -> str | None:
    """Apply one irregularity ``kind`` to an optional ``value``."""
    if kind == "null":
        return None
    if kind == "empty":
        return ""
    if kind == "bom":
        return BOM + value
    if kind == "whitespace":
        if " " in value:
            return value.replace(" ", "  ", 1)
        return value + " " * rng.randint(1, 2)
    if kind == "case":
        return value.upper() if rng.random() < 0.5 else value.lower()
    return rng.choice((FOREIGN if kind == "foreign" else APOSTROPHES)[field])


def odd_sku(rng: random.Random, sku: str) -> tuple[str, str]:
    """An odd but valid, still unique variant of ``sku`` (never a '/' or a space)."""
    variants = {"bom": BOM + sku, "trailing_dash": sku + "-", "lower_case": sku.lower()}
    if "." in sku:
        variants["double_dot"] = sku.replace(".", "..", 1)
    kind = rng.choice(sorted(variants))
    return kind, variants[kind]


def generate(count: int, seed: int) -> tuple[list[dict], Counter, list[str]]:
    """Return the records, the count of each irregularity and the reject report."""
    rng = random.Random(seed)
    stats: Counter = Counter()
    taken: set[str] = set()
    records = []
    for _ in range(count - len(DEFECTS) - 2):
        rec = make_clean(rng, taken)
        for field in OPTIONAL_FIELDS:
            kind = rng.choices(list(FIELD_KINDS), list(FIELD_KINDS.values()))[0]
            if kind != "clean":
                rec[field] = dirty_value(rng, field, rec[field], kind)
                stats[f"optional field {kind}"] += 1
        if rng.random() < 0.008:
            kind, rec["sku"] = odd_sku(rng, rec["sku"])
            stats[f"odd sku: {kind}"] += 1
        elif rng.random() < 0.0025:
            rec["year"] = BOM + rec["year"]
            stats["year with BOM"] += 1
        records.append(rec)

    # Records to reject: clean records with one fatal defect, plus two duplicates.
    rejects = [(make_clean(rng, taken) | change, why) for change, why in DEFECTS]
    plain = [i for i, rec in enumerate(records) if rec["sku"] in taken]
    first, second = sorted(rng.sample(plain[: len(plain) // 2], 2))
    altered = {"status": "outlet", "year": "2003", "dial_color": "Red"}
    rejects.append((dict(records[first]), "duplicate sku (identical copy)"))
    rejects.append((records[second] | altered, "duplicate sku (different values)"))

    for rec, reason in rejects:
        # Duplicates go after their original so the copy is the one to reject.
        same = [i for i, r in enumerate(records) if r["sku"] == rec["sku"]]
        records.insert(rng.randint(max(same, default=-1) + 1, len(records)), rec)
        stats[f"REJECT: {reason}"] += 1
    index = {id(rec): i for i, rec in enumerate(records)}
    report = [f"  [{index[id(r)]}] {why}: sku={r['sku']!r}" for r, why in rejects]
    return [{key: rec[key] for key in sorted(rec)} for rec in records], stats, report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="records")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = parser.parse_args(argv)
    if args.count < 100:
        parser.error("--count must be at least 100")
    records, stats, report = generate(args.count, args.seed)
    with args.output.open("w", encoding="utf-8", newline="\n") as f:
        json.dump(records, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(records)} records to {args.output}", file=sys.stderr)
    for kind, n in sorted(stats.items()):
        print(f"  {n:6d}  {kind}", file=sys.stderr)
    print("records to reject:", *report, sep="\n", file=sys.stderr)


if __name__ == "__main__":
    main()
