"""`notifier services ...`: add, list with status, override, refuse bad input in one line."""

from __future__ import annotations

from tests.cli.test_cli_errors import Cli, _one_line_error, cli

__all__ = ["cli"]


def test_add_list_override_and_an_incident_naming_a_service(cli: Cli) -> None:
    added = cli.json("services", "add", "radio", "--name", "Satellite radio", "--group", "TV")
    assert added["key"] == "radio" and added["group"] == "TV"
    cli.json(
        "incident", "declare", "--title", "Down", "--severity", "critical", "--affects", "radio"
    )
    listed = cli.json("services", "list")
    assert [(s["key"], s["status"]) for s in listed["services"]] == [("radio", "major_outage")]  # type: ignore[union-attr,index]
    shown = cli.json("services", "override", "radio", "--status", "degraded_performance")
    assert shown["override"] == "degraded_performance"
    assert cli.json("services", "show", "radio")["status"] == "degraded_performance"
    assert cli.json("services", "override", "radio", "--clear")["override"] is None
    code, out, _ = cli.run("services", "remove", "radio")
    assert code == 0 and "removed" in out


def test_bad_input_is_one_line_with_exit_2(cli: Cli) -> None:
    cli.json("services", "add", "radio", "--name", "Satellite radio")
    _one_line_error(*cli.run("services", "add", "radio", "--name", "Again")[::2], "already exists")
    _one_line_error(*cli.run("services", "add", "no way", "--name", "X")[::2], "key: ")
    _one_line_error(
        *cli.run("services", "override", "radio", "--status", "on-fire")[::2], "status: "
    )
    _one_line_error(*cli.run("services", "override", "radio")[::2], "--status or --clear")
    _one_line_error(*cli.run("services", "show", "tv")[::2], "service 'tv' does not exist")
    code, _, err = cli.run(
        "incident", "declare", "--title", "X", "--severity", "minor", "--affects", "raido"
    )
    _one_line_error(code, err, "affects: 'raido' is not a service")
    assert cli.count("incidents") == 0
