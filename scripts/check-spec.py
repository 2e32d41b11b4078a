#!/usr/bin/env python3
"""Refuses a spec whose vendor extensions state a relation that does not hold.

The templates in spec/templates/ trust some of the spec's `x-` extensions, each of which
says that one part of the spec is, or names, another. When such a claim is false, the
generator still runs, and the generated crate either fails to compile far from the cause
or, worse, compiles and validates by the wrong rule. `scripts/generate.sh` runs this
before the generator. The claims checked:

- `x-same-query-params-as: Op` on an operation: its query parameters are `Op`'s, one for
  one and alike in everything but their documentation (the generated code gives both
  operations `Op`'s struct, so that struct's fields, types and validators serve both).
  `Op` is an operationId written in CamelCase, as the generated struct is named.
- `x-pattern: NAME`: the `pattern` beside it is the one named NAME in the top-level
  `x-patterns` list (the generated validator uses the named one); and every `pattern` of
  the spec has its `x-pattern`.
- `x-enum-model: Model` on a parameter: its `type` and `enum` are those of the definition
  `Model` (the generated field is of that model's type).
- `x-links` on an operation's response: each link names an existing operation, that
  operation's parameters and body properties, and runtime expressions (`$request.path.id`,
  `$response.body#/groupId`, ...) that the linking operation and response do have.

Not checked, because each states a fact about one part only: `x-response-id` (a
response's variant name), `x-optional` (a header that may be absent), `x-example` (a
parameter's example), `x-headers` (a holder of YAML anchors).

Usage: check-spec.py [SPEC]   (SPEC defaults to spec/billing.yaml). Prints every false
claim and exits 1, or prints nothing and exits 0.
"""

import json
import re
import sys

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
# Keys that only document a parameter: two operations may word or illustrate the same
# parameter differently without the generated code noticing.
DOCUMENTATION_KEYS = frozenset({"description", "x-example", "example", "examples"})
# Values a spec holds as data, not as schema: never searched for extensions.
DATA_KEYS = frozenset({"example", "examples", "x-example", "default", "enum"})
# Where each checked extension is read by the templates (or schemathesis, for `x-links`).
PLACES = {
    "x-same-query-params-as": "an operation",
    "x-enum-model": "a parameter",
    "x-links": "an operation's response",
}


def camel_case(operation_id):
    """The operationId as openapi-generator's `operationIdCamelCase` spells it."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", operation_id))


def show(value):
    """A value as it is written in a message: whole, so that any difference shows."""
    return "absent" if value is None else json.dumps(value, ensure_ascii=False, default=str)


def where(location):
    """A location in the spec (a list of keys and indexes) as a dotted path."""
    return ".".join(str(key) for key in location) or "the top level"


class Spec:
    """The loaded spec, with its local `$ref`s resolved and its operations listed."""

    def __init__(self, document):
        self.document = document

    def resolve(self, node):
        """`node`, or what its local `$ref` points at (following chains of `$ref`s)."""
        seen = []
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if not ref.startswith("#/") or ref in seen:
                return node
            seen.append(ref)
            target = self.document
            for key in ref[2:].split("/"):
                key = key.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or key not in target:
                    return node
                target = target[key]
            node = target
        return node

    def operations(self):
        """Every operation as (name, path, method, operation, path item), in spec order."""
        for path, item in (self.document.get("paths") or {}).items():
            if not isinstance(item, dict):
                continue
            for method in HTTP_METHODS:
                operation = item.get(method)
                if isinstance(operation, dict):
                    name = operation.get("operationId") or f"{method.upper()} {path}"
                    yield name, path, method, operation, item

    def parameters(self, operation, item):
        """An operation's parameters, resolved: its path item's, overridden by its own."""
        merged = {}
        for source in (item.get("parameters") or [], operation.get("parameters") or []):
            for parameter in source:
                parameter = self.resolve(parameter)
                if isinstance(parameter, dict):
                    merged[(parameter.get("name"), parameter.get("in"))] = parameter
        return list(merged.values())

    def body_schema(self, operation, item):
        """The resolved schema of an operation's body parameter, or None without one."""
        for parameter in self.parameters(operation, item):
            if parameter.get("in") == "body":
                return self.resolve(parameter.get("schema") or {})
        return None

    def pointer_resolves(self, schema, pointer):
        """Whether the JSON pointer `pointer` names a place inside values of `schema`."""
        schema = self.resolve(schema)
        if pointer in ("", "/"):
            return True
        key, _, rest = pointer.lstrip("/").partition("/")
        key = key.replace("~1", "/").replace("~0", "~")
        candidates = [schema] + [self.resolve(part) for part in schema.get("allOf") or []]
        for candidate in candidates:
            properties = candidate.get("properties") or {}
            if key in properties:
                return self.pointer_resolves(properties[key], rest)
            if candidate.get("type") == "array" and key.isdigit():
                return self.pointer_resolves(candidate.get("items") or {}, rest)
        return False


def walk(node, location=()):
    """Every mapping of the spec, with its location, skipping data such as examples."""
    if isinstance(node, dict):
        yield list(location), node
        for key, value in node.items():
            if key not in DATA_KEYS:
                yield from walk(value, location + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, location + (index,))


def is_operation(location):
    """Whether the location is `paths.<path>.<method>`."""
    return len(location) == 3 and location[0] == "paths" and location[2] in HTTP_METHODS


def is_parameter(location):
    """Whether the location is a shared parameter or one in a path item or operation."""
    if len(location) == 2 and location[0] == "parameters":
        return True
    if location[:1] == ["paths"] and len(location) >= 4 and location[-2] == "parameters":
        return len(location) == 4 or (len(location) == 5 and location[2] in HTTP_METHODS)
    return False


def is_operation_response(location):
    """Whether the location is `paths.<path>.<method>.responses.<status>`."""
    return len(location) == 5 and is_operation(location[:3]) and location[3] == "responses"


def check_places(spec):
    """Each checked extension stands where it is read: elsewhere it would do nothing."""
    tests = {
        "x-same-query-params-as": is_operation,
        "x-enum-model": is_parameter,
        "x-links": is_operation_response,
    }
    problems = []
    for location, node in walk(spec.document):
        for extension, test in tests.items():
            if extension in node and not test(location):
                problems.append(
                    f"{extension} at {where(location)} does nothing there: it is read on "
                    f"{PLACES[extension]} only"
                )
    return problems


def differences(left, right, left_name, right_name):
    """How two resolved parameters differ, documentation aside, one phrase per key."""
    phrases = []
    for key in sorted((set(left) | set(right)) - DOCUMENTATION_KEYS):
        if left.get(key) != right.get(key):
            phrases.append(
                f"{key} is {show(left.get(key))} in {left_name} but {show(right.get(key))} "
                f"in {right_name}"
            )
    return phrases


def query_parameters(spec, operation, item):
    """An operation's query parameters by name."""
    return {p.get("name"): p for p in spec.parameters(operation, item) if p.get("in") == "query"}


def cycle(by_camel_case, start_name, start):
    """The chain of `x-same-query-params-as` from an operation back to itself, or None."""
    chain, current = [start_name], start
    while True:
        claim = current.get("x-same-query-params-as")
        if not isinstance(claim, str) or claim not in by_camel_case:
            return None
        name, current, _ = by_camel_case[claim]
        chain.append(name)
        if name == start_name:
            return chain
        if name in chain[:-1]:
            return None  # A cycle this operation only leads into: told at its members.


def check_same_query_params(spec):
    """`x-same-query-params-as` names an operation whose query parameters are the same."""
    operations = list(spec.operations())
    by_camel_case = {camel_case(operation.get("operationId", "")): (name, operation, item)
                     for name, _, _, operation, item in operations if operation.get("operationId")}
    problems = []
    for name, _, _, operation, item in operations:
        claim = operation.get("x-same-query-params-as")
        if claim is None:
            continue
        prefix = f"{name}: x-same-query-params-as: {claim}"
        if not isinstance(claim, str) or claim not in by_camel_case:
            spelled = [camel for camel, (other, _, _) in by_camel_case.items() if other == claim]
            hint = (f"; write it {spelled[0]}, the operationId in CamelCase as the generated "
                    "struct is named" if spelled else
                    "; it must be an operationId in CamelCase, one of "
                    + ", ".join(sorted(by_camel_case)))
            problems.append(f"{prefix} names no operation{hint}")
            continue
        target_name, target, target_item = by_camel_case[claim]
        loop = cycle(by_camel_case, name, operation)
        if loop:
            # Type aliases that name each other: the generated crate would not compile.
            problems.append(f"{prefix} makes a cycle: {' -> '.join(loop)}")
            continue
        ours = query_parameters(spec, operation, item)
        theirs = query_parameters(spec, target, target_item)
        for parameter in sorted(theirs.keys() - ours.keys()):
            problems.append(f"{prefix} is false: query parameter `{parameter}` is in "
                            f"{target_name} but not in {name}")
        for parameter in sorted(ours.keys() - theirs.keys()):
            problems.append(f"{prefix} is false: query parameter `{parameter}` is in "
                            f"{name} but not in {target_name}")
        for parameter in sorted(ours.keys() & theirs.keys()):
            for phrase in differences(theirs[parameter], ours[parameter], target_name, name):
                problems.append(
                    f"{prefix} is false: query parameter `{parameter}` differs: {phrase}")
    return problems


def check_patterns(spec):
    """Every `pattern` names its entry of `x-patterns` in `x-pattern`, and is that entry's."""
    problems, named = [], {}
    entries = spec.document.get("x-patterns") or []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("pattern"), str):
            problems.append(f"x-patterns.{index}: each entry needs a `name` and a `pattern`")
        elif entry["name"] in named:
            problems.append(f"x-patterns.{index}: the name {entry['name']} is taken twice")
        else:
            named[entry["name"]] = entry["pattern"]
    if not isinstance(entries, list):
        problems.append("x-patterns must be a list of entries with a `name` and a `pattern`")
    for location, node in walk({k: v for k, v in spec.document.items() if k != "x-patterns"}):
        name, pattern = node.get("x-pattern"), node.get("pattern")
        if not isinstance(pattern, str):
            pattern = None
        if name is None and pattern is None:
            continue
        at = where(location)
        if name is None:
            problems.append(f"{at}: a pattern without an x-pattern naming it in x-patterns "
                            f"(the generated code compiles only named patterns): {show(pattern)}")
        elif name not in named:
            problems.append(f"{at}: x-pattern: {name} names no entry of x-patterns")
        elif pattern is None:
            problems.append(f"{at}: x-pattern: {name} beside no pattern: the generated code "
                            "would not validate it; add `pattern: *alias`")
        elif pattern != named[name]:
            problems.append(f"{at}: x-pattern: {name} is false: the pattern here is "
                            f"{show(pattern)}, x-patterns' {name} is {show(named[name])}")
    return problems


def check_enum_models(spec):
    """A parameter's `x-enum-model` names an enum definition with its type and values."""
    definitions = spec.document.get("definitions") or {}
    problems = []
    for location, node in walk(spec.document):
        model = node.get("x-enum-model")
        if model is None or not is_parameter(location):
            continue
        name = node.get("name", where(location))
        prefix = f"{where(location)}: parameter `{name}`: x-enum-model: {model}"
        definition = spec.resolve(definitions.get(model)) if isinstance(model, str) else None
        if not isinstance(definition, dict) or "enum" not in definition:
            problems.append(f"{prefix} names no enum of definitions")
            continue
        for key in ("type", "enum"):
            if node.get(key) != definition.get(key):
                problems.append(f"{prefix} is false: its {key} is {show(node.get(key))}, "
                                f"{model}'s is {show(definition.get(key))}")
    return problems


def check_expression(spec, expression, operation, item, response):
    """Why a link's runtime expression names nothing, or None when it names something."""
    if expression in ("$url", "$method", "$statusCode"):
        return None
    match = re.fullmatch(r"\$(request|response)\.(path|query|header|body)(?:\.(.+)|#(.*))?",
                         expression)
    if not match:
        return "is not a runtime expression"
    side, part, name, pointer = match.groups()
    if part == "body":
        schema = spec.body_schema(operation, item) if side == "request" else \
            spec.resolve(response.get("schema")) if response.get("schema") else None
        if schema is None:
            return f"names a {side} body, and there is none"
        if pointer is not None and not spec.pointer_resolves(schema, pointer):
            return f"names {pointer} in the {side} body, whose schema has no such property"
        return None
    if name is None:
        return "names no parameter"
    if side == "response":
        if part != "header":
            return "names a part a response does not have"
        headers = {header.lower() for header in (response.get("headers") or {})}
        return None if name.lower() in headers else f"names the header {name}, not declared"
    for parameter in spec.parameters(operation, item):
        same = parameter.get("name", "").lower() == name.lower() if part == "header" \
            else parameter.get("name") == name
        if parameter.get("in") == part and same:
            return None
    return f"names the {part} parameter {name}, which the linking operation does not have"


def expressions(value):
    """Every runtime expression (a string starting with `$`) in a link's value."""
    if isinstance(value, str) and value.startswith("$"):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from expressions(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from expressions(inner)


def check_links(spec):
    """Each `x-links` entry names an operation, its parameters and body, and real sources."""
    targets = {operation["operationId"]: (operation, item)
               for _, _, _, operation, item in spec.operations() if operation.get("operationId")}
    problems = []
    for name, _, _, operation, item in spec.operations():
        for status, response in (operation.get("responses") or {}).items():
            links = response.get("x-links") if isinstance(response, dict) else None
            if not isinstance(links, dict):
                continue
            response = spec.resolve(response)
            for link_name, link in links.items():
                prefix = f"{name}: the {status} answer's x-links.{link_name}"
                target_name = link.get("operationId") if isinstance(link, dict) else None
                if target_name not in targets:
                    problems.append(f"{prefix} names no operation ({show(target_name)})")
                    continue
                target, target_item = targets[target_name]
                accepted = spec.parameters(target, target_item)
                for key, value in (link.get("parameters") or {}).items():
                    location, _, parameter = key.rpartition(".")
                    if not any(p.get("name") == parameter and p.get("in") != "body"
                               and location in ("", p.get("in")) for p in accepted):
                        problems.append(f"{prefix}: {target_name} has no parameter `{key}`")
                if "requestBody" in link:
                    body = spec.body_schema(target, target_item)
                    value = link["requestBody"]
                    if body is None:
                        problems.append(f"{prefix}: a requestBody for {target_name}, "
                                        "which takes no body")
                    elif isinstance(value, dict) and body.get("type") == "object":
                        properties = body.get("properties") or {}
                        if body.get("additionalProperties") is False:
                            for key in value.keys() - properties.keys():
                                problems.append(f"{prefix}: {target_name}'s body has no "
                                                f"property `{key}`")
                        for key in set(body.get("required") or []) - value.keys():
                            problems.append(f"{prefix}: {target_name}'s body needs `{key}`, "
                                            "which the requestBody lacks")
                for expression in expressions(link):
                    why = check_expression(spec, expression, operation, item, response)
                    if why:
                        problems.append(f"{prefix}: {expression} {why}")
    return problems


CHECKS = (check_places, check_same_query_params, check_patterns, check_enum_models, check_links)


def check(document):
    """Every false claim of the loaded spec `document`, one message each."""
    spec = Spec(document)
    return [problem for each in CHECKS for problem in each(spec)]


def main(argv):
    """Checks the spec named on the command line (or spec/billing.yaml)."""
    import yaml  # Here, so that the checks themselves can be tested without PyYAML.

    path = argv[1] if len(argv) > 1 else "spec/billing.yaml"
    with open(path, encoding="utf-8") as file:
        document = yaml.safe_load(file)
    problems = check(document)
    if problems:
        print(f"{path}: {len(problems)} false claim(s) of its vendor extensions:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
