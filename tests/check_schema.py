#!/usr/bin/env python3
"""Check scenarios/schema.json against the scenario test corpora.

- Every tests/scenarios/valid/*.json (and scenarios/*.json, the library) must
  pass the schema.
- Every tests/scenarios/invalid/*.json must fail: either it is not JSON at all
  (syntax errors, duplicate keys -- which Python would otherwise silently
  merge), or the schema rejects it.
- Except the files listed in tests/scenarios/invalid/semantic-only.txt: their
  invalidity is beyond what a schema can express (references, calendar dates,
  ...), so the schema must ACCEPT them; the loader alone rejects them.

Exit 0 when schema and corpora agree, 1 on any disagreement, 2 on bad setup.
Usage: python3 tests/check_schema.py [REPO_ROOT]
"""
import json
import pathlib
import sys

try:
    import jsonschema
except ImportError:  # pragma: no cover
    print("check_schema: python3-jsonschema is not installed", file=sys.stderr)
    sys.exit(2)


class DuplicateKey(ValueError):
    pass


def reject_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def load_strict(path):
    """The decoded file, or None with a reason if it is not strict JSON."""
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text, object_pairs_hook=reject_duplicates), None
    except (ValueError, UnicodeDecodeError) as e:
        return None, str(e)


def first_error(validator, doc):
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    e = errors[0]
    where = "/".join(str(p) for p in e.absolute_path) or "(top)"
    return f"{where}: {e.message}"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    schema_path = root / "scenarios" / "schema.json"
    valid_dir = root / "tests" / "scenarios" / "valid"
    invalid_dir = root / "tests" / "scenarios" / "invalid"
    semantic_list = invalid_dir / "semantic-only.txt"
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as e:
        print(f"check_schema: {schema_path}: {e}", file=sys.stderr)
        return 2
    validator = jsonschema.Draft202012Validator(schema)
    semantic = set()
    for line in semantic_list.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            semantic.add(line)

    problems = []
    checked = 0
    valid_files = sorted(valid_dir.glob("*.json")) + sorted((root / "scenarios").glob("*.json"))
    for path in valid_files:
        if path == schema_path:
            continue
        checked += 1
        doc, why = load_strict(path)
        if doc is None:
            problems.append(f"{path}: valid file is not strict JSON: {why}")
            continue
        err = first_error(validator, doc)
        if err:
            problems.append(f"{path}: valid file fails the schema: {err}")

    invalid_names = set()
    for path in sorted(invalid_dir.glob("*.json")):
        checked += 1
        invalid_names.add(path.stem)
        doc, why = load_strict(path)
        if path.stem in semantic:
            if doc is None:
                problems.append(f"{path}: listed as semantic-only but is not JSON: {why}")
                continue
            err = first_error(validator, doc)
            if err:
                problems.append(f"{path}: listed as semantic-only but the schema rejects it: {err}"
                                " (remove it from semantic-only.txt)")
            continue
        if doc is None:
            continue  # not JSON: rejected before any schema applies
        if first_error(validator, doc) is None:
            problems.append(f"{path}: invalid file passes the schema (tighten the schema, or list"
                            " it in semantic-only.txt if no schema can express the rule)")
    for name in sorted(semantic - invalid_names):
        problems.append(f"{semantic_list}: lists {name}, which has no {name}.json")

    for p in problems:
        print(p)
    print(f"check_schema: {checked} files, {len(problems)} disagreements")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
