"""The embedding filters: each value comes back exactly from its real parser, and runs nothing."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from bootstrap.render.filters import UnsafeValue, ini, json_value, ruby, shell, yaml_value

NASTY = [
    "plain",
    "$(touch {marker})",
    "`touch {marker}`",
    "a'b\"c",
    "x; touch {marker}",
    "line1\nline2",
    "[section]\nkey=value",
    "back\\slash\\'",
    "#{`touch {marker}`}",
    "ünïcödé ✓",
    "",
    "-n",
]


@pytest.mark.parametrize("value", NASTY)
def test_shell_word_reaches_the_program_unchanged_and_runs_nothing(tmp_path, value):
    marker = tmp_path / "pwned"
    given = value.replace("{marker}", str(marker))
    script = f"printf '%s' {shell(given)}\n"
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert proc.stdout == given
    assert not marker.exists()


@pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby not installed")
@pytest.mark.parametrize("value", NASTY)
def test_ruby_literal_parses_back_to_the_value_and_runs_nothing(tmp_path, value):
    marker = tmp_path / "pwned"
    given = value.replace("{marker}", str(marker))
    program = f"STDOUT.write({ruby(given)})\n"
    proc = subprocess.run(["ruby", "-e", program], capture_output=True, check=True)
    assert proc.stdout.decode() == given
    assert not marker.exists()


@pytest.mark.parametrize("value", NASTY)
def test_yaml_and_json_values_parse_back_exactly(value):
    assert yaml.safe_load(f"key: {yaml_value(value)}\n") == {"key": value}
    assert json.loads(f'{{"key": {json_value(value)}}}') == {"key": value}
    nested = {"list": [value, 1, True], "map": {"k": value}}
    assert yaml.safe_load(f"key: {yaml_value(nested)}\n") == {"key": nested}


def test_ini_accepts_one_line_and_refuses_what_would_add_a_line():
    import configparser

    text = f"[main]\nserver = {ini('puppet.example.com; #1')}\n"
    parser = configparser.RawConfigParser(inline_comment_prefixes=None)
    parser.read_string(text)
    assert parser.get("main", "server") == "puppet.example.com; #1"
    for bad in ("a\nb", "x\r[main]", " padded", "tab\t"):
        with pytest.raises(UnsafeValue):
            ini(bad)


@pytest.mark.parametrize("bad", [None, True, {"a": 1}, [1], "nul\x00byte"])
def test_non_scalar_values_are_refused_where_a_word_is_expected(bad):
    for escape in (shell, ruby, ini):
        with pytest.raises(UnsafeValue):
            escape(bad)


BEYOND_BMP = ["\U0001F600", "a\U0001D11Eb", "\\ud83d\\ude00", "\\\\\U0001F600", "\u2028\x85\ufeff",
              {"\U0001F511": ["\U0001F600", "é"]}]


@pytest.mark.parametrize("value", BEYOND_BMP)
def test_yaml_values_beyond_the_bmp_parse_back_in_pyyaml_and_libyaml(value):
    """JSON's surrogate-pair escapes are no YAML: libyaml refuses them and PyYAML reads two
    broken characters. Both read the filter's output as the value itself."""
    text = f"key: {yaml_value(value)}\n"
    assert yaml.safe_load(text) == {"key": value}
    if shutil.which("ruby"):
        program = "require 'yaml'; require 'json'; STDOUT.write(JSON.generate(YAML.safe_load(STDIN.read)))"
        proc = subprocess.run(["ruby", "-e", program], input=text.encode(), capture_output=True,
                              check=True)
        assert json.loads(proc.stdout) == {"key": value}


@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb", {"k": ["\ud83d"]}])
def test_a_lone_surrogate_has_no_yaml_or_json_form(bad):
    for escape in (yaml_value, json_value):
        with pytest.raises(UnsafeValue, match="lone UTF-16 surrogate"):
            escape(bad)
