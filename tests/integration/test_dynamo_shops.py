"""DynamoShopRepository on moto: the operator's numbers (one shop each, pool and route written together), unique API
keys, optimistic locking on settings."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, time, timezone

import pytest

from chalicelib.adapters.dynamo.shops import DynamoShopRepository
from chalicelib.adapters.dynamo.tables import ShopKeyRow, ShopRow
from chalicelib.domain.errors import ConcurrentUpdate, Conflict, InvalidInput, NotFound
from chalicelib.domain.shops import FrequencyCap, QuietHours, SenderNumber, Shop, ShopSettings
from tests.fakes import FrozenClock

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws")]

NUMBER_X = "+15555550100"
NUMBER_Y = "+15555550101"
T0 = datetime(2030, 5, 1, 9, 0, tzinfo=timezone.utc)


def key_hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


X = SenderNumber(NUMBER_X, 10, "TOLL_FREE")
Y = SenderNumber(NUMBER_Y, 100, "SHORT_CODE")


def new_shop(shop_id: str) -> Shop:
    return Shop(shop_id=shop_id, settings=ShopSettings(shop_name=shop_id.split(".")[0]))


@pytest.fixture
def repo() -> DynamoShopRepository:
    return DynamoShopRepository(FrozenClock(T0))


def sender_keys() -> dict[str, str]:
    return {row.key: row.shop_id for row in ShopKeyRow.scan() if row.key.startswith("sender#")}


class TestCreateAndGet:
    def test_settings_round_trip(self, repo: DynamoShopRepository) -> None:
        settings = ShopSettings(
            shop_name="Alpha",
            timezone="Europe/Berlin",
            quiet_hours=QuietHours(enabled=True, start=time(20, 30), end=time(8, 15)),
            opt_in_keyword="ALPHA",
            frequency_cap=FrequencyCap(messages=3, days=7),
        )
        repo.create(Shop("alpha.myshopify.com", settings), key_hash("alpha"))

        assert repo.get("alpha.myshopify.com") == Shop("alpha.myshopify.com", settings, version=1)
        # created_at comes from the clock port (devstack's movable clock), never the wall clock
        assert ShopRow.get("alpha.myshopify.com").created_at == T0
        assert {row.created_at for row in ShopKeyRow.scan()} == {T0}

    def test_settings_stored_with_a_merchant_mps_still_load(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com"), None)
        row = ShopRow.get("alpha.myshopify.com")
        row.settings = {**row.settings, "mps": 40}  # written before the rate became the operator's
        row.save()
        assert repo.get("alpha.myshopify.com").settings == new_shop("alpha.myshopify.com").settings

    def test_missing_shop_is_not_found(self, repo: DynamoShopRepository) -> None:
        with pytest.raises(NotFound) as caught:
            repo.get("ghost.myshopify.com")
        assert caught.value.code == "shop_not_found"

    def test_existing_shop_is_a_conflict_and_is_not_overwritten(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com"), None)
        with pytest.raises(Conflict) as caught:
            repo.create(Shop("alpha.myshopify.com", ShopSettings(shop_name="Impostor")), key_hash("evil"))

        assert caught.value.code == "shop_exists"
        assert repo.get("alpha.myshopify.com").settings.shop_name == "alpha"
        assert repo.shop_for_api_key(key_hash("evil")) is None

    def test_a_new_shop_gets_no_number_whatever_it_carries(self, repo: DynamoShopRepository) -> None:
        created = repo.create(replace(new_shop("alpha.myshopify.com"), numbers=(X,)), None)
        assert created.numbers == () and repo.get("alpha.myshopify.com").numbers == ()
        assert sender_keys() == {}

    def test_api_key_already_used_is_a_conflict(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com"), key_hash("shared"))
        with pytest.raises(Conflict) as caught:
            repo.create(new_shop("beta.myshopify.com"), key_hash("shared"))

        assert caught.value.code == "api_key_taken"
        assert repo.shop_for_api_key(key_hash("shared")) == "alpha.myshopify.com"


class TestAssignNumbers:
    def test_assigning_writes_the_pool_the_primary_and_the_route_at_once(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com"), None)
        repo.assign_number("alpha.myshopify.com", X)
        shop = repo.assign_number("alpha.myshopify.com", Y)

        assert shop == repo.get("alpha.myshopify.com")
        assert shop.numbers == (X, Y) and shop.version == 3
        assert shop.settings.sender_number == NUMBER_X  # the first number is the primary
        assert sender_keys() == {f"sender#{NUMBER_X}": "alpha.myshopify.com", f"sender#{NUMBER_Y}": "alpha.myshopify.com"}
        assert repo.assigned_numbers() == [(X, "alpha.myshopify.com"), (Y, "alpha.myshopify.com")]
        for number in (NUMBER_X, NUMBER_Y):
            routed = repo.shop_for_sender(number)
            assert routed is not None and routed.shop_id == "alpha.myshopify.com"

    def test_assigning_again_restates_the_rate(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com"), None)
        repo.assign_number("alpha.myshopify.com", X)
        shop = repo.assign_number("alpha.myshopify.com", replace(X, mps=3))
        assert shop.numbers == (replace(X, mps=3),)
        assert repo.assigned_numbers() == [(replace(X, mps=3), "alpha.myshopify.com")]

    def test_a_number_belongs_to_one_shop_and_the_loser_writes_nothing(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com"), None)
        beta = repo.create(new_shop("beta.myshopify.com"), None)
        repo.assign_number("alpha.myshopify.com", X)
        with pytest.raises(Conflict) as caught:
            repo.assign_number("beta.myshopify.com", replace(X, mps=1000))

        assert caught.value.code == "sender_number_taken"
        assert repo.get("beta.myshopify.com") == beta
        assert repo.assigned_numbers() == [(X, "alpha.myshopify.com")]
        routed = repo.shop_for_sender(NUMBER_X)
        assert routed is not None and routed.shop_id == "alpha.myshopify.com"

    def test_unassigning_removes_pool_entry_and_route_and_moves_the_primary(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com"), None)
        repo.assign_number("alpha.myshopify.com", X)
        repo.assign_number("alpha.myshopify.com", Y)
        shop = repo.unassign_number(NUMBER_X)

        assert shop is not None and shop == repo.get("alpha.myshopify.com")
        assert shop.numbers == (Y,) and shop.settings.sender_number == NUMBER_Y
        assert repo.shop_for_sender(NUMBER_X) is None
        assert sender_keys() == {f"sender#{NUMBER_Y}": "alpha.myshopify.com"}
        assert repo.unassign_number(NUMBER_X) is None  # nobody has it now
        last = repo.unassign_number(NUMBER_Y)
        assert last is not None and last.numbers == () and last.primary is None and sender_keys() == {}

    def test_an_unassigned_number_can_go_to_another_shop(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com"), None)
        repo.create(new_shop("beta.myshopify.com"), None)
        repo.assign_number("alpha.myshopify.com", X)
        repo.unassign_number(NUMBER_X)
        beta = repo.assign_number("beta.myshopify.com", X)
        assert beta.primary == NUMBER_X and repo.get("alpha.myshopify.com").numbers == ()

    def test_assigning_to_a_missing_shop_writes_nothing(self, repo: DynamoShopRepository) -> None:
        with pytest.raises(NotFound):
            repo.assign_number("ghost.myshopify.com", X)
        assert sender_keys() == {}


class TestSaveSettings:
    def test_saves_and_bumps_version(self, repo: DynamoShopRepository) -> None:
        shop = repo.create(new_shop("alpha.myshopify.com"), None)
        saved = repo.save_settings(shop, replace(shop.settings, shop_name="Renamed"))

        assert saved.version == shop.version + 1
        assert repo.get("alpha.myshopify.com") == saved
        assert saved.settings.shop_name == "Renamed"

    def test_stale_version_is_refused_and_writes_nothing(self, repo: DynamoShopRepository) -> None:
        shop = repo.create(new_shop("alpha.myshopify.com"), None)
        first = repo.save_settings(shop, replace(shop.settings, shop_name="First"))
        with pytest.raises(ConcurrentUpdate):
            repo.save_settings(shop, replace(shop.settings, shop_name="Stale"))
        assert repo.get("alpha.myshopify.com") == first

    def test_a_save_read_before_an_unassignment_is_refused(self, repo: DynamoShopRepository) -> None:
        # The service checked the primary against the pool it read; the number left the pool since.
        repo.create(new_shop("alpha.myshopify.com"), None)
        repo.assign_number("alpha.myshopify.com", X)
        read = repo.assign_number("alpha.myshopify.com", Y)
        repo.unassign_number(NUMBER_Y)
        with pytest.raises(ConcurrentUpdate):
            repo.save_settings(read, replace(read.settings, sender_number=NUMBER_Y))
        assert repo.get("alpha.myshopify.com").settings.sender_number == NUMBER_X

    def test_saving_keeps_the_pool_and_its_routes(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com"), None)
        shop = repo.assign_number("alpha.myshopify.com", X)
        saved = repo.save_settings(shop, replace(shop.settings, shop_name="Renamed"))
        assert repo.get("alpha.myshopify.com").numbers == saved.numbers == (X,)
        assert sender_keys() == {f"sender#{NUMBER_X}": "alpha.myshopify.com"}

    def test_saving_a_missing_shop_creates_nothing(self, repo: DynamoShopRepository) -> None:
        with pytest.raises(ConcurrentUpdate):
            repo.save_settings(new_shop("ghost.myshopify.com"), ShopSettings(shop_name="Ghost"))

        assert list(ShopRow.scan()) == []


class TestRouting:
    def test_sender_routing_needs_the_shop_to_agree(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com"), None)
        # A stray key (e.g. written by hand) must not route another number's SMS to this shop.
        created_at = ShopRow.get("alpha.myshopify.com").created_at
        ShopKeyRow(f"sender#{NUMBER_X}", shop_id="alpha.myshopify.com", created_at=created_at).save()

        assert repo.shop_for_sender(NUMBER_X) is None

    def test_unknown_numbers_and_keys_route_nowhere(self, repo: DynamoShopRepository) -> None:
        assert repo.shop_for_sender(NUMBER_X) is None
        assert repo.shop_for_api_key(key_hash("nobody")) is None
        assert repo.shop_for_api_key("not-a-hash") is None


class TestApiKeys:
    def test_malformed_hash_is_refused_and_nothing_is_written(self, repo: DynamoShopRepository) -> None:
        with pytest.raises(InvalidInput):
            repo.create(new_shop("alpha.myshopify.com"), "plain-text-key")
        assert list(ShopRow.scan()) == [] and list(ShopKeyRow.scan()) == []
