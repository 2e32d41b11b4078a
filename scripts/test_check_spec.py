"""Unit tests of scripts/check-spec.py: each claim it checks, held and broken.

Run from the checkout: python3 -m unittest discover -s scripts -p 'test_check_spec.py'.
The specs are built here as Python data; only the test of spec/billing.yaml needs PyYAML.
"""

import copy
import importlib.util
import unittest
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
_loader = importlib.util.spec_from_file_location("check_spec", SCRIPTS / "check-spec.py")
check_spec = importlib.util.module_from_spec(_loader)
_loader.loader.exec_module(check_spec)

GROUP_ID = "^[A-Za-z0-9][A-Za-z0-9_-]*$"
STATUSES = ["OPEN", "PAID"]


def base_spec():
    """A small spec in the shape of spec/billing.yaml whose every claim holds."""
    status = {"name": "status", "in": "query", "required": False, "type": "string",
              "enum": list(STATUSES), "x-enum-model": "InvoiceStatus"}
    quantity = {"name": "quantity", "in": "query", "required": False, "type": "integer",
                "format": "int32", "minimum": 1, "maximum": 100, "default": 20,
                "description": "Page size."}
    group = {"name": "groupId", "in": "path", "required": True, "type": "string",
             "pattern": GROUP_ID, "x-pattern": "GROUP_ID"}
    return {
        "swagger": "2.0",
        "x-patterns": [{"name": "GROUP_ID", "pattern": GROUP_ID}],
        "parameters": {"status": status, "quantity": quantity, "group": group},
        "paths": {
            "/bills": {"get": {
                "operationId": "listBills",
                "parameters": [{"$ref": "#/parameters/quantity"},
                               {"$ref": "#/parameters/status"}],
                "responses": {"200": {"description": "ok"}},
            }},
            "/groups/{groupId}/bills": {"get": {
                "operationId": "listGroupBills",
                "x-same-query-params-as": "ListBills",
                "parameters": [{"$ref": "#/parameters/group"},
                               {"$ref": "#/parameters/quantity"},
                               {"$ref": "#/parameters/status"}],
                "responses": {"200": {"description": "ok"}},
            }},
            "/groups": {"post": {
                "operationId": "createGroup",
                "parameters": [{"name": "body", "in": "body", "required": True,
                                "schema": {"$ref": "#/definitions/Group"}}],
                "responses": {"200": {
                    "description": "ok",
                    "schema": {"$ref": "#/definitions/Group"},
                    "x-links": {"Bills": {
                        "operationId": "listGroupBills",
                        "parameters": {"groupId": "$response.body#/groupId"},
                    }},
                }},
            }},
        },
        "definitions": {
            "InvoiceStatus": {"type": "string", "enum": list(STATUSES)},
            "Group": {"type": "object", "required": ["groupId"],
                      "additionalProperties": False,
                      "properties": {"groupId": {"type": "string", "pattern": GROUP_ID,
                                                 "x-pattern": "GROUP_ID"},
                                     "address": {"type": "string"}}},
        },
    }


def group_bills(spec):
    """The group listing's operation of a spec made by `base_spec`."""
    return spec["paths"]["/groups/{groupId}/bills"]["get"]


def own_copy(spec, operation, name):
    """Replaces the operation's `$ref` to parameter `name` with a copy of it, and returns it."""
    ref = {"$ref": f"#/parameters/{name}"}
    index = operation["parameters"].index(ref)
    operation["parameters"][index] = copy.deepcopy(spec["parameters"][name])
    return operation["parameters"][index]


class HeldClaims(unittest.TestCase):
    def test_a_spec_whose_claims_hold_passes(self):
        self.assertEqual(check_spec.check(base_spec()), [])

    def test_documentation_may_differ_between_shared_query_parameters(self):
        spec = base_spec()
        own_copy(spec, group_bills(spec), "quantity")["description"] = "The group's page size."
        self.assertEqual(check_spec.check(spec), [])

    def test_path_item_parameters_count_as_the_operations(self):
        spec = base_spec()
        operation = group_bills(spec)
        operation["parameters"].remove({"$ref": "#/parameters/status"})
        spec["paths"]["/groups/{groupId}/bills"]["parameters"] = [{"$ref": "#/parameters/status"}]
        self.assertEqual(check_spec.check(spec), [])

    def test_the_real_spec_passes(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("PyYAML is not installed")
        path = SCRIPTS.parent / "spec" / "billing.yaml"
        self.assertEqual(check_spec.check(yaml.safe_load(path.read_text())), [])


class SameQueryParams(unittest.TestCase):
    def assert_refused(self, spec, *words):
        problems = check_spec.check(spec)
        self.assertEqual(len(problems), 1, problems)
        for word in words:
            self.assertIn(word, problems[0])

    def test_a_parameter_of_one_listing_only_is_refused_naming_both_and_it(self):
        spec = base_spec()
        spec["paths"]["/bills"]["get"]["parameters"].append(
            {"name": "currency", "in": "query", "type": "string"})
        self.assert_refused(spec, "`currency`", "is in listBills but not in listGroupBills")

    def test_a_parameter_of_the_claiming_listing_only_is_refused(self):
        spec = base_spec()
        group_bills(spec)["parameters"].append(
            {"name": "currency", "in": "query", "type": "string"})
        self.assert_refused(spec, "`currency`", "is in listGroupBills but not in listBills")

    def test_a_parameter_moved_to_the_header_is_refused(self):
        spec = base_spec()
        own_copy(spec, group_bills(spec), "status")["in"] = "header"
        self.assert_refused(spec, "`status`", "in listBills but not in listGroupBills")

    def test_every_difference_of_a_shared_parameter_is_refused(self):
        for key, value in (("maximum", 50), ("minimum", 0), ("format", "int64"),
                           ("required", True), ("default", 10), ("type", "number"),
                           ("enum", [20, 50]), ("pattern", "^[0-9]+$"),
                           ("collectionFormat", "csv")):
            with self.subTest(key=key):
                spec = base_spec()
                own_copy(spec, group_bills(spec), "quantity")[key] = value
                problems = [p for p in check_spec.check(spec) if "x-same-query-params-as" in p]
                self.assertEqual(len(problems), 1, problems)
                self.assertIn(f"query parameter `quantity` differs: {key} is", problems[0])
                self.assertIn(f"{check_spec.show(value)} in listGroupBills", problems[0])

    def test_the_lower_case_operation_id_is_refused_with_its_spelling(self):
        spec = base_spec()
        group_bills(spec)["x-same-query-params-as"] = "listBills"
        self.assert_refused(spec, "names no operation", "write it ListBills")

    def test_an_unknown_operation_is_refused(self):
        spec = base_spec()
        group_bills(spec)["x-same-query-params-as"] = "ListAllBills"
        self.assert_refused(spec, "names no operation", "ListBills, ListGroupBills")

    def test_a_cycle_is_refused(self):
        spec = base_spec()
        spec["paths"]["/bills"]["get"]["x-same-query-params-as"] = "ListGroupBills"
        problems = check_spec.check(spec)
        self.assertEqual(len(problems), 2, problems)
        self.assertIn("listBills -> listGroupBills -> listBills", problems[0])
        self.assertIn("listGroupBills -> listBills -> listGroupBills", problems[1])

    def test_the_claim_on_a_path_item_is_refused_as_doing_nothing(self):
        spec = base_spec()
        spec["paths"]["/bills"]["x-same-query-params-as"] = "ListGroupBills"
        self.assert_refused(spec, "at paths./bills does nothing there")


class Patterns(unittest.TestCase):
    def test_a_pattern_edited_beside_its_name_is_refused(self):
        spec = base_spec()
        spec["parameters"]["group"]["pattern"] = "^[A-Z]+$"
        self.assertEqual(check_spec.check(spec), [
            'parameters.group: x-pattern: GROUP_ID is false: the pattern here is "^[A-Z]+$", '
            f'x-patterns\' GROUP_ID is "{GROUP_ID}"'.replace("\\", "\\\\")])

    def test_a_pattern_without_a_name_is_refused(self):
        spec = base_spec()
        del spec["definitions"]["Group"]["properties"]["groupId"]["x-pattern"]
        problems = check_spec.check(spec)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("definitions.Group.properties.groupId: a pattern without an x-pattern",
                      problems[0])

    def test_an_unknown_name_and_a_name_without_pattern_are_refused(self):
        spec = base_spec()
        spec["parameters"]["group"]["x-pattern"] = "GROUP"
        del spec["definitions"]["Group"]["properties"]["groupId"]["pattern"]
        problems = check_spec.check(spec)
        self.assertEqual(len(problems), 2, problems)
        self.assertIn("x-pattern: GROUP names no entry of x-patterns", problems[0])
        self.assertIn("x-pattern: GROUP_ID beside no pattern", problems[1])

    def test_a_name_taken_twice_is_refused(self):
        spec = base_spec()
        spec["x-patterns"].append({"name": "GROUP_ID", "pattern": "^x$"})
        self.assertEqual(check_spec.check(spec),
                         ["x-patterns.1: the name GROUP_ID is taken twice"])

    def test_a_property_named_pattern_is_no_pattern(self):
        spec = base_spec()
        spec["definitions"]["Group"]["properties"]["pattern"] = {"type": "string"}
        self.assertEqual(check_spec.check(spec), [])


class EnumModels(unittest.TestCase):
    def test_values_that_differ_from_the_model_are_refused(self):
        spec = base_spec()
        spec["parameters"]["status"]["enum"] = ["OPEN"]
        self.assertEqual(check_spec.check(spec), [
            'parameters.status: parameter `status`: x-enum-model: InvoiceStatus is false: '
            'its enum is ["OPEN"], InvoiceStatus\'s is ["OPEN", "PAID"]'])

    def test_a_model_that_is_no_enum_is_refused(self):
        spec = base_spec()
        spec["parameters"]["status"]["x-enum-model"] = "Group"
        problems = check_spec.check(spec)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("x-enum-model: Group names no enum of definitions", problems[0])


class Links(unittest.TestCase):
    def link(self, spec):
        """The one link of a spec made by `base_spec`."""
        return spec["paths"]["/groups"]["post"]["responses"]["200"]["x-links"]["Bills"]

    def test_an_unknown_operation_is_refused(self):
        spec = base_spec()
        self.link(spec)["operationId"] = "listGroupBill"
        self.assertEqual(check_spec.check(spec), [
            'createGroup: the 200 answer\'s x-links.Bills names no operation ("listGroupBill")'])

    def test_a_parameter_the_target_lacks_is_refused(self):
        spec = base_spec()
        self.link(spec)["parameters"]["query.groupId"] = "$request.body#/groupId"
        problems = check_spec.check(spec)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("listGroupBills has no parameter `query.groupId`", problems[0])

    def test_expressions_naming_nothing_are_refused(self):
        spec = base_spec()
        self.link(spec)["parameters"].update({
            "groupId": "$response.body#/group", "path.groupId": "$request.path.id",
            "quantity": "$response.header.X-Total-Count", "status": "$request.body#/address"})
        problems = check_spec.check(spec)
        self.assertEqual(len(problems), 3, problems)
        self.assertIn("$response.body#/group names /group in the response body", problems[0])
        self.assertIn("$request.path.id names the path parameter id", problems[1])
        self.assertIn("$response.header.X-Total-Count names the header X-Total-Count",
                      problems[2])

    def test_a_request_body_must_fit_the_targets_body(self):
        spec = base_spec()
        self.link(spec)["operationId"] = "createGroup"
        self.link(spec)["parameters"] = {}
        self.link(spec)["requestBody"] = {"address": "Main St."}
        problems = check_spec.check(spec)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("createGroup's body needs `groupId`", problems[0])
        self.link(spec)["requestBody"] = {"groupId": "$response.body#/groupId", "city": "X"}
        problems = check_spec.check(spec)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("createGroup's body has no property `city`", problems[0])

    def test_a_request_body_for_an_operation_without_one_is_refused(self):
        spec = base_spec()
        self.link(spec)["requestBody"] = {"groupId": "HQ"}
        problems = check_spec.check(spec)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("a requestBody for listGroupBills, which takes no body", problems[0])


class Helpers(unittest.TestCase):
    def test_camel_case_spells_as_the_generator_does(self):
        self.assertEqual(check_spec.camel_case("findCustomerBillsByClientCode"),
                         "FindCustomerBillsByClientCode")
        self.assertEqual(check_spec.camel_case("DeleteBillingGroup"), "DeleteBillingGroup")
        self.assertEqual(check_spec.camel_case("list_bills-byGroup"), "ListBillsByGroup")


if __name__ == "__main__":
    unittest.main()
