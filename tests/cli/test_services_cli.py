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


def test_maintenance_schedule_start_complete_and_refusals(cli: Cli) -> None:
    scheduled = cli.json(
        "maintenance",
        "schedule",
        "--services",
        "satellite-radio,billing",
        "--starts",
        "+3d",
        "--ends",
        "+3d2h",
        "--message",
        "Uplink upgrade",
    )
    assert scheduled["status"] == "scheduled"
    assert scheduled["affects"] == ["satellite-radio", "billing"]
    assert cli.json("maintenance", "start", "1")["status"] == "in_progress"
    assert cli.json("maintenance", "complete", "1", "--message", "Done")["status"] == "completed"
    shown = cli.json("maintenance", "show", "1")
    assert [u["status"] for u in shown["updates"]] == ["scheduled", "in_progress", "completed"]  # type: ignore[union-attr,index]
    listed = cli.json("maintenance", "list")
    assert [m["id"] for m in listed["maintenance"]] == [1]  # type: ignore[union-attr,index]

    code, _, err = cli.run("maintenance", "cancel", "1")
    assert code == 2 and "maintenance 1" in err and "completed" in err and err.count("\n") == 1
    for args, expected in [
        (("--starts", "+3d", "--ends", "+2d"), "ends: "),
        (("--starts", "-1h", "--ends", "+2d"), "starts: "),
        (("--starts", "soon", "--ends", "+2d"), "--starts: "),
    ]:
        code, _, err = cli.run(
            "maintenance", "schedule", "--services", "tv", "--message", "m", *args
        )
        _one_line_error(code, err, expected)
    assert cli.count("maintenances") == 1
