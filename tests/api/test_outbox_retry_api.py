"""POST /api/deliveries/retry: failed messages go again, once; bad filters are 422."""

from __future__ import annotations

from notifier.runtime.worker import Worker
from tests.api.conftest import ApiEnv


async def test_bad_retry_filters_are_422_naming_the_field(sqlite_env: ApiEnv) -> None:
    async with await sqlite_env.client("ops") as c:
        cases = {
            "channel": {"channel": "fax"},
            "incident_id": {"incident_id": 0},
            "reason": {"reason": "x" * 201},
            "surprise": {"surprise": True},
        }
        for field, body in cases.items():
            response = await c.post("/api/deliveries/retry", json=body)
            assert response.status_code == 422, body
            locs = [e["loc"][1] for e in response.json()["detail"]]
            assert field in locs, (body, response.json())


async def test_retry_over_http_sends_a_failed_sms_once(sqlite_env: ApiEnv) -> None:
    env = sqlite_env
    await env.load_customers()
    env.twilio.fail_number("+12015550123", code=21211)  # refused for good: failed
    async with await env.client("ops") as c:
        declared = await c.post(
            "/api/incidents",
            json={"title": "Down", "severity": "major", "affects": ["satellite-radio"]},
        )
        assert declared.status_code == 201
        worker = Worker(env.app)
        await worker.run_until_idle()
        failed = (await c.get("/api/deliveries?status=failed&channel=sms")).json()["deliveries"]
        assert [d["recipient"] for d in failed] == ["+12015550123"]
        env.twilio.reset()  # the number is fine now
        answer = await c.post("/api/deliveries/retry", json={"channel": "sms", "reason": "21211"})
        assert answer.json() == {"matched": 1, "retried": 1}
        await Worker(env.app).run_until_idle()
        again = await c.post("/api/deliveries/retry", json={"channel": "sms"})
        assert again.json() == {"matched": 0, "retried": 0}
        [sent] = [
            d
            for d in (await c.get("/api/deliveries?channel=sms")).json()["deliveries"]
            if d["recipient"] == "+12015550123"
        ]
    assert sent["status"] == "sent" and sent["provider"] == "sms-1"
    assert [m.to for m in env.twilio.messages] == ["+12015550123"]
