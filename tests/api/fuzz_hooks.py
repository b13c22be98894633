"""schemathesis hooks for the second pass of test_openapi.py: every request
names the collection the test filled, so generated points requests reach a
real shard instead of stopping at 404."""

import os

import schemathesis


@schemathesis.hook
def map_path_parameters(ctx, path_parameters):
    if path_parameters and "name" in path_parameters:
        path_parameters["name"] = os.environ["TESSERA_FUZZ_COLLECTION"]
    return path_parameters
