"""What a check states with pytest's ``record_property``: shown by verify on a pass and on a
failure, in the JSON and the JUnit XML, with the host's secrets removed."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from xml.etree import ElementTree

from bootstrap.fleet.checks import collect, load_module
from bootstrap.fleet.pool import FleetHost, Redactor
from bootstrap.fleet.report import junit
from bootstrap.fleet.verify import HostReport, _run
from bootstrap.hosts.model import Connection

CHECKS = """
    def test_states_what_it_saw(record_property):
        record_property("eth0", {"state": "up", "mtu": 9001})
        record_property("key", "s3cret-value in use")


    def test_states_then_fails(record_property):
        record_property("vif1", {"state": "Idle"})
        assert False, "vif1 is not Established"
"""


def _results(tmp_path: Path) -> HostReport:
    path = tmp_path / "checks.py"
    path.write_text(textwrap.dedent(CHECKS))
    host = FleetHost("web1", Connection(), {}, tmp_path, None, Redactor(["s3cret-value"]))
    fixtures = {"host": None, "hostvars": {}, "manifest": {"host": "web1"}}
    report = HostReport("web1")
    report.checks = [_run(c, fixtures, host) for c in collect("demo", load_module("demo", path))]
    return report


def test_properties_are_kept_on_pass_and_failure_without_secrets(tmp_path: Path) -> None:
    report = _results(tmp_path)
    passed, failed = report.checks
    assert (passed.outcome, passed.message) == ("passed", "")
    assert passed.properties == [("eth0", {"state": "up", "mtu": 9001}),
                                 ("key", "<secret> in use")]
    assert failed.outcome == "failed"
    assert failed.properties == [("vif1", {"state": "Idle"})]
    checks = json.loads(json.dumps(report.as_json()))["checks"]
    assert checks[0]["properties"] == {"eth0": {"state": "up", "mtu": 9001}, "key": "<secret> in use"}
    assert checks[1]["properties"] == {"vif1": {"state": "Idle"}}


def test_junit_carries_the_properties_as_pytest_does(tmp_path: Path) -> None:
    root = ElementTree.fromstring(junit([_results(tmp_path)]))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    props = {p.get("name"): p.get("value")
             for p in cases["test_states_what_it_saw"].iter("property")}
    assert props == {"eth0": '{"state": "up", "mtu": 9001}', "key": "<secret> in use"}
    assert cases["test_states_then_fails"].find("failure") is not None
    assert "s3cret" not in junit([_results(tmp_path)])
