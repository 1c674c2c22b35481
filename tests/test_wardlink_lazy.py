"""Packages that re-export names import each one's module on first use, and only then."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from wardlink.lazy import lazy_exports


def test_a_name_is_imported_on_first_use_and_kept():
    namespace: dict = {}
    getattr_ = lazy_exports("pkg", {"dumps": "json", "sqrt": "math"}, namespace)
    import json

    assert getattr_("dumps") is json.dumps
    assert namespace == {"dumps": json.dumps}
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'loads'"):
        getattr_("loads")


@pytest.mark.parametrize("package, name, module", [
    ("wardlink.hub.rules", "RulesEngine", "wardlink.hub.rules.engine"),
    ("wardlink.hub.ingest", "IngestWorker", "wardlink.hub.ingest.worker"),
])
def test_importing_the_package_loads_none_of_its_modules_until_asked(package, name, module):
    probe = (f"import sys, {package} as p\n"
             f"before = {module!r} in sys.modules\n"
             f"getattr(p, {name!r})\n"
             f"print(before, {module!r} in sys.modules, {name!r} in vars(p))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "True"]


def test_the_packages_use_the_one_helper():
    import wardlink.hub.ingest as ingest
    import wardlink.hub.rules as rules

    for package in (ingest, rules):
        assert isinstance(package.__getattr__, types.FunctionType)
        assert package.__getattr__.__module__ == "wardlink.lazy"
