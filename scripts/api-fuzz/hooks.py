"""Schemathesis hooks for scripts/api-fuzz.sh (SCHEMATHESIS_HOOKS=hooks, PYTHONPATH=this dir).

The fuzzer learns ids from answers and reuses them: it would revoke the very token it runs with
(`GET /v1/tokens` lists it) and then meet nothing but 401s. The seeded fixtures listed in
IMGCLOUD_PROTECTED_IDS are swapped for an unknown id in DELETE calls; everything else, the
ids it makes itself included, stays fair game.
"""
import os

import schemathesis

PROTECTED = {i for i in os.environ.get("IMGCLOUD_PROTECTED_IDS", "").split(",") if i}
GUARDED = {"/v1/tokens/{id}", "/v1/images/{id}", "/v1/images/{id}/purge", "/v1/albums/{id}",
           "/v1/shares/{id}"}


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() != "DELETE" or case.operation.path not in GUARDED:
        return
    if isinstance(case.path_parameters, dict) and case.path_parameters.get("id") in PROTECTED:
        case.path_parameters["id"] = "0000000000000000"
