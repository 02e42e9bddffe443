"""DynamoCampaignRepository on moto: versioned edits that never clobber worker counters, the planning
checkpoint, completion decided on stored counters, newest-first paging and tenant isolation."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo.campaigns import DynamoCampaignRepository
from chalicelib.adapters.dynamo.cursors import encode_cursor
from chalicelib.adapters.dynamo.keys import gate_key
from chalicelib.adapters.dynamo.tables import CampaignGateRow, CampaignRow
from chalicelib.domain.campaigns import Campaign, CampaignStats, CampaignStatus
from chalicelib.domain.errors import ConcurrentUpdate, Conflict, InvalidInput, NotFound, TransientError
from tests.integration.conftest import Contention

SHOP_A = "alpha.myshopify.com"
SHOP_B = "beta.myshopify.com"
T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
RULE = {"all": [{"field": "source", "op": "eq", "value": "keyword"}]}

pytestmark = pytest.mark.integration


def campaign(campaign_id: str = "c001", *, shop_id: str = SHOP_A, status: CampaignStatus = CampaignStatus.DRAFT) -> Campaign:
    return Campaign(
        shop_id=shop_id,
        campaign_id=campaign_id,
        name="Spring sale",
        message="20% off today: {first_name}",
        segment_id="all",
        send_now=False,
        send_at_local=datetime(2025, 3, 2, 9, 30),
        timezone="America/New_York",
        status=status,
        created_at=T0,
        updated_at=T0,
        media_url="https://cdn.example.com/a.png",
    )


def worker_adds(shop_id: str, campaign_id: str, *, sent: int = 0, planned: int = 0, shard: int = 0) -> None:
    """What a send worker / planner does meanwhile: atomic ADDs to one of the campaign's gates (as the ledger's
    transactions do) and to the row's planned (as a checkpoint does)."""
    CampaignGateRow(gate_key(shop_id, campaign_id, shard)).update(
        actions=[CampaignGateRow.sent.add(sent), CampaignGateRow.done.add(sent), CampaignGateRow.parts.add(sent)]
    )
    CampaignRow(shop_id, campaign_id).update(actions=[CampaignRow.planned.add(planned)])


@pytest.fixture
def repo(aws: None) -> DynamoCampaignRepository:
    return DynamoCampaignRepository()


def started(repo: DynamoCampaignRepository, campaign_id: str = "c001") -> Campaign:
    scheduled = repo.save(repo.create(campaign(campaign_id)).schedule(T0))
    return repo.save(scheduled.start(T0 + timedelta(minutes=1), RULE))


class TestCreateAndGet:
    def test_round_trip_at_version_one_with_zero_stats(self, repo: DynamoCampaignRepository) -> None:
        created = repo.create(campaign())

        assert created == replace(campaign(), version=1)
        got = repo.get(SHOP_A, "c001")
        assert got == created
        assert got.send_at_local == datetime(2025, 3, 2, 9, 30) and got.send_at_local.tzinfo is None
        assert got.stats == CampaignStats()
        assert CampaignRow.get(SHOP_A, "c001").send_at_local == "2025-03-02T09:30:00"

    def test_send_now_campaign_has_no_wall_time(self, repo: DynamoCampaignRepository) -> None:
        now = replace(campaign(), send_now=True, send_at_local=None, media_url=None)
        assert repo.create(now).send_at_local is None
        assert repo.get(SHOP_A, "c001").media_url is None

    def test_an_aware_wall_time_is_refused(self, repo: DynamoCampaignRepository) -> None:
        with pytest.raises(InvalidInput):
            repo.create(replace(campaign(), send_at_local=T0))

    def test_creating_an_existing_id_is_a_conflict_and_keeps_the_first(self, repo: DynamoCampaignRepository) -> None:
        repo.create(campaign())
        with pytest.raises(Conflict) as caught:
            repo.create(replace(campaign(), name="Impostor"))
        assert caught.value.code == "campaign_exists"
        assert repo.get(SHOP_A, "c001").name == "Spring sale"

    def test_missing_and_other_shops_campaigns_are_not_found(self, repo: DynamoCampaignRepository) -> None:
        repo.create(campaign(shop_id=SHOP_B))
        for shop_id, campaign_id in ((SHOP_A, "c001"), (SHOP_A, "nope")):
            with pytest.raises(NotFound) as caught:
                repo.get(shop_id, campaign_id)
            assert caught.value.code == "campaign_not_found"


class TestSave:
    def test_save_writes_definition_and_bumps_the_version(self, repo: DynamoCampaignRepository) -> None:
        stored = repo.create(campaign())
        edited = replace(
            stored,
            name="Summer sale",
            media_url=None,
            send_at_local=datetime(2025, 4, 1, 8, 0),
            updated_at=T0 + timedelta(hours=1),
        )

        saved = repo.save(edited)

        assert saved.version == 2
        got = repo.get(SHOP_A, "c001")
        assert got == saved
        assert (got.name, got.media_url, got.send_at_local) == ("Summer sale", None, datetime(2025, 4, 1, 8, 0))
        assert got.updated_at == T0 + timedelta(hours=1)

    def test_status_transitions_are_stored(self, repo: DynamoCampaignRepository) -> None:
        running = started(repo)
        assert running.version == 3
        got = repo.get(SHOP_A, "c001")
        assert got.status is CampaignStatus.IN_PROGRESS
        assert got.audience_rule == RULE and got.started_at == T0 + timedelta(minutes=1)

        ended = repo.save(got.end(T0 + timedelta(hours=1)))
        assert (ended.status, ended.ended_early, ended.completed_at) == (CampaignStatus.COMPLETED, True, T0 + timedelta(hours=1))

    def test_counters_and_checkpoint_written_meanwhile_survive_a_save(self, repo: DynamoCampaignRepository) -> None:
        running = started(repo)  # the merchant's copy, loaded before the workers ran
        assert repo.checkpoint_plan(SHOP_A, "c001", page=0, next_cursor="cur-1", planned=5)
        worker_adds(SHOP_A, "c001", sent=3)

        ended = repo.save(running.end(T0 + timedelta(hours=1)))

        got = repo.get(SHOP_A, "c001")
        assert got.stats.sent == 3 and got.stats.done == 3 and got.stats.planned == 5 and got.stats.parts == 3
        assert (got.plan_page, got.plan_cursor) == (1, "cur-1")
        assert got.status is CampaignStatus.COMPLETED
        assert ended.stats == got.stats  # save hands back what is stored, not the caller's stale stats
        assert ended.not_sent == 2

    def test_a_stale_copy_is_a_concurrent_update_and_writes_nothing(self, repo: DynamoCampaignRepository) -> None:
        stored = repo.create(campaign())
        repo.save(replace(stored, name="First edit"))

        with pytest.raises(ConcurrentUpdate):
            repo.save(replace(stored, name="Lost edit"))
        got = repo.get(SHOP_A, "c001")
        assert (got.name, got.version) == ("First edit", 2)

    def test_saving_a_deleted_campaign_is_not_found_and_does_not_recreate_it(self, repo: DynamoCampaignRepository) -> None:
        stored = repo.create(campaign())
        repo.delete(stored)

        with pytest.raises(NotFound):
            repo.save(replace(stored, name="Ghost"))
        assert list(CampaignRow.scan()) == []


class TestDelete:
    def test_delete_removes_it(self, repo: DynamoCampaignRepository) -> None:
        stored = repo.create(campaign())
        repo.delete(stored)
        with pytest.raises(NotFound):
            repo.get(SHOP_A, "c001")

    def test_stale_delete_is_a_concurrent_update_and_keeps_it(self, repo: DynamoCampaignRepository) -> None:
        stored = repo.create(campaign())
        repo.save(stored.schedule(T0))
        with pytest.raises(ConcurrentUpdate):
            repo.delete(stored)
        assert repo.get(SHOP_A, "c001").status is CampaignStatus.SCHEDULED

    def test_deleting_a_missing_campaign_is_not_found(self, repo: DynamoCampaignRepository) -> None:
        with pytest.raises(NotFound):
            repo.delete(replace(campaign(), version=1))


class TestCheckpoint:
    def test_pages_advance_and_the_last_one_finishes_planning(self, repo: DynamoCampaignRepository) -> None:
        started(repo)
        assert repo.checkpoint_plan(SHOP_A, "c001", page=0, next_cursor="cur-1", planned=4)
        assert repo.checkpoint_plan(SHOP_A, "c001", page=1, next_cursor=None, planned=2)

        got = repo.get(SHOP_A, "c001")
        assert (got.plan_page, got.plan_cursor, got.planning_done, got.stats.planned) == (2, None, True, 6)

    def test_a_duplicate_plan_job_writes_nothing(self, repo: DynamoCampaignRepository) -> None:
        started(repo)
        assert repo.checkpoint_plan(SHOP_A, "c001", page=0, next_cursor="cur-1", planned=4)

        assert not repo.checkpoint_plan(SHOP_A, "c001", page=0, next_cursor="cur-1", planned=4)
        assert not repo.checkpoint_plan(SHOP_A, "c001", page=5, next_cursor=None, planned=1)  # not yet its turn
        got = repo.get(SHOP_A, "c001")
        assert (got.plan_page, got.stats.planned, got.planning_done) == (1, 4, False)

    def test_no_checkpoint_unless_in_progress(self, repo: DynamoCampaignRepository) -> None:
        running = started(repo)
        repo.save(running.end(T0 + timedelta(hours=1)))
        repo.create(campaign("c002"))

        assert not repo.checkpoint_plan(SHOP_A, "c001", page=0, next_cursor=None, planned=3)
        assert not repo.checkpoint_plan(SHOP_A, "c002", page=0, next_cursor=None, planned=3)
        assert not repo.checkpoint_plan(SHOP_A, "missing", page=0, next_cursor=None, planned=3)
        assert repo.get(SHOP_A, "c001").stats.planned == 0
        assert {row.campaign_id for row in CampaignRow.scan()} == {"c001", "c002"}  # nothing half-created


class TestCompleteIfDone:
    def test_not_before_planning_is_done(self, repo: DynamoCampaignRepository) -> None:
        started(repo)
        repo.checkpoint_plan(SHOP_A, "c001", page=0, next_cursor="more", planned=2)
        worker_adds(SHOP_A, "c001", sent=2)

        assert not repo.complete_if_done(SHOP_A, "c001", T0)
        assert repo.get(SHOP_A, "c001").status is CampaignStatus.IN_PROGRESS

    def test_not_while_recipients_are_outstanding_then_yes(self, repo: DynamoCampaignRepository) -> None:
        running = started(repo)
        repo.checkpoint_plan(SHOP_A, "c001", page=0, next_cursor=None, planned=3)
        worker_adds(SHOP_A, "c001", sent=2)
        assert not repo.complete_if_done(SHOP_A, "c001", T0)

        worker_adds(SHOP_A, "c001", sent=1)
        done_at = T0 + timedelta(minutes=5)
        assert repo.complete_if_done(SHOP_A, "c001", done_at)

        got = repo.get(SHOP_A, "c001")
        assert (got.status, got.completed_at, got.ended_early) == (CampaignStatus.COMPLETED, done_at, False)
        assert not repo.complete_if_done(SHOP_A, "c001", done_at)  # once
        # A merchant's End racing completion must reload, not turn it into "ended early".
        with pytest.raises(ConcurrentUpdate):
            repo.save(running.end(done_at))

    def test_an_empty_audience_completes(self, repo: DynamoCampaignRepository) -> None:
        started(repo)
        repo.checkpoint_plan(SHOP_A, "c001", page=0, next_cursor=None, planned=0)
        assert repo.complete_if_done(SHOP_A, "c001", T0)

    def test_never_a_draft_or_a_missing_campaign(self, repo: DynamoCampaignRepository) -> None:
        repo.create(campaign())
        assert not repo.complete_if_done(SHOP_A, "c001", T0)
        assert not repo.complete_if_done(SHOP_A, "missing", T0)
        assert [row.campaign_id for row in CampaignRow.scan()] == ["c001"]


class TestPage:
    def test_newest_first_across_pages(self, repo: DynamoCampaignRepository) -> None:
        for campaign_id in ("c001", "c002", "c003", "c004", "c005"):
            repo.create(campaign(campaign_id))

        first = repo.page(SHOP_A, limit=2)
        second = repo.page(SHOP_A, limit=2, cursor=first.cursor)
        third = repo.page(SHOP_A, limit=2, cursor=second.cursor)

        seen = [c.campaign_id for p in (first, second, third) for c in p.items]
        assert seen == ["c005", "c004", "c003", "c002", "c001"]
        assert third.cursor is None

    def test_an_exact_last_page_has_no_cursor(self, repo: DynamoCampaignRepository) -> None:
        repo.create(campaign("c001"))
        repo.create(campaign("c002"))
        assert repo.page(SHOP_A, limit=2).cursor is None

    def test_shops_never_see_each_other(self, repo: DynamoCampaignRepository) -> None:
        repo.create(campaign("a1"))
        repo.create(campaign("b1", shop_id=SHOP_B))
        repo.create(campaign("b2", shop_id=SHOP_B))

        assert [c.campaign_id for c in repo.page(SHOP_A).items] == ["a1"]
        assert [c.campaign_id for c in repo.all(SHOP_B)] == ["b2", "b1"]

    def test_another_shops_cursor_is_refused(self, repo: DynamoCampaignRepository) -> None:
        for campaign_id in ("b1", "b2", "b3"):
            repo.create(campaign(campaign_id, shop_id=SHOP_B))
        cursor_b = repo.page(SHOP_B, limit=1).cursor
        assert cursor_b is not None

        with pytest.raises(InvalidInput):
            repo.page(SHOP_A, cursor=cursor_b)
        forged = encode_cursor({"shop_id": {"S": SHOP_B}, "campaign_id": {"S": "b3"}})
        with pytest.raises(InvalidInput):
            repo.page(SHOP_A, cursor=forged)
        with pytest.raises(InvalidInput):
            repo.page(SHOP_B, cursor=cursor_b[:-1])
        with pytest.raises(InvalidInput):
            repo.page(SHOP_B, limit=0)


class TestContention:
    def test_end_campaign_outlasts_a_brief_conflict(self, repo: DynamoCampaignRepository, contention: Contention) -> None:
        running = started(repo)
        # End is one transaction: the campaign row and every gate
        with contention("TransactWriteItems", times=2) as answered:
            ended = repo.save(running.end(T0))
        assert len(answered) == 2
        assert ended.status is CampaignStatus.COMPLETED and repo.get(SHOP_A, "c001").ended_early

    def test_lasting_contention_is_transient(self, repo: DynamoCampaignRepository, contention: Contention) -> None:
        started(repo)
        # a checkpoint is one transaction (the campaign and the shop's totals together)
        with contention("TransactWriteItems", times=100), pytest.raises(TransientError):
            repo.checkpoint_plan(SHOP_A, "c001", page=0, next_cursor=None, planned=1)
        assert repo.get(SHOP_A, "c001").plan_page == 0
        assert repo.totals(SHOP_A).planned == 0
        assert repo.checkpoint_plan(SHOP_A, "c001", page=0, next_cursor=None, planned=1)
        worker_adds(SHOP_A, "c001", sent=1)  # done: only then does completion write (after its read)
        with contention("TransactWriteItems", times=100), pytest.raises(TransientError):
            repo.complete_if_done(SHOP_A, "c001", T0)
        assert repo.get(SHOP_A, "c001").status is CampaignStatus.IN_PROGRESS
