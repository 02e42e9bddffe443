"""DynamoShopRepository on moto: unique sender numbers and API keys, optimistic locking on settings."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, time, timezone

import pytest

from chalicelib.adapters.dynamo.shops import DynamoShopRepository
from chalicelib.adapters.dynamo.tables import ShopKeyRow, ShopRow
from chalicelib.domain.errors import ConcurrentUpdate, Conflict, InvalidInput, NotFound
from chalicelib.domain.shops import FrequencyCap, QuietHours, Shop, ShopSettings
from tests.fakes import FrozenClock

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws")]

NUMBER_X = "+15555550100"
NUMBER_Y = "+15555550101"
T0 = datetime(2030, 5, 1, 9, 0, tzinfo=timezone.utc)


def key_hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def new_shop(shop_id: str, sender: str | None = None) -> Shop:
    return Shop(shop_id=shop_id, settings=ShopSettings(shop_name=shop_id.split(".")[0], sender_number=sender))


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
            sender_number=NUMBER_X,
            mps=20,
            opt_in_keyword="ALPHA",
            frequency_cap=FrequencyCap(messages=3, days=7),
        )
        repo.create(Shop("alpha.myshopify.com", settings), key_hash("alpha"))

        assert repo.get("alpha.myshopify.com") == Shop("alpha.myshopify.com", settings, version=1)
        # created_at comes from the clock port (devstack's movable clock), never the wall clock
        assert ShopRow.get("alpha.myshopify.com").created_at == T0
        assert {row.created_at for row in ShopKeyRow.scan()} == {T0}

    def test_missing_shop_is_not_found(self, repo: DynamoShopRepository) -> None:
        with pytest.raises(NotFound) as caught:
            repo.get("ghost.myshopify.com")
        assert caught.value.code == "shop_not_found"

    def test_existing_shop_is_a_conflict_and_is_not_overwritten(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com"), None)
        with pytest.raises(Conflict) as caught:
            repo.create(Shop("alpha.myshopify.com", ShopSettings(shop_name="Impostor", sender_number=NUMBER_X)), key_hash("evil"))

        assert caught.value.code == "shop_exists"
        assert repo.get("alpha.myshopify.com").settings.shop_name == "alpha"
        assert repo.shop_for_sender(NUMBER_X) is None  # the failed create wrote none of its keys
        assert repo.shop_for_api_key(key_hash("evil")) is None

    def test_second_shop_cannot_take_a_sender_number_and_writes_nothing(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com", NUMBER_X), key_hash("alpha"))
        with pytest.raises(Conflict) as caught:
            repo.create(new_shop("beta.myshopify.com", NUMBER_X), key_hash("beta"))

        assert caught.value.code == "sender_number_taken"
        with pytest.raises(NotFound):
            repo.get("beta.myshopify.com")
        assert repo.shop_for_api_key(key_hash("beta")) is None
        routed = repo.shop_for_sender(NUMBER_X)
        assert routed is not None and routed.shop_id == "alpha.myshopify.com"

    def test_api_key_already_used_is_a_conflict(self, repo: DynamoShopRepository) -> None:
        repo.create(new_shop("alpha.myshopify.com"), key_hash("shared"))
        with pytest.raises(Conflict) as caught:
            repo.create(new_shop("beta.myshopify.com", NUMBER_Y), key_hash("shared"))

        assert caught.value.code == "api_key_taken"
        assert repo.shop_for_api_key(key_hash("shared")) == "alpha.myshopify.com"
        assert repo.shop_for_sender(NUMBER_Y) is None


class TestSaveSettings:
    def test_saves_and_bumps_version(self, repo: DynamoShopRepository) -> None:
        shop = repo.create(new_shop("alpha.myshopify.com"), None)
        saved = repo.save_settings(shop, replace(shop.settings, shop_name="Renamed", mps=5))

        assert saved.version == shop.version + 1
        assert repo.get("alpha.myshopify.com") == saved
        assert saved.settings.shop_name == "Renamed" and saved.settings.mps == 5

    def test_stale_version_is_refused_and_writes_nothing(self, repo: DynamoShopRepository) -> None:
        shop = repo.create(new_shop("alpha.myshopify.com", NUMBER_X), None)
        first = repo.save_settings(shop, replace(shop.settings, shop_name="First"))
        with pytest.raises(ConcurrentUpdate):
            repo.save_settings(shop, replace(shop.settings, shop_name="Stale", sender_number=NUMBER_Y))

        assert repo.get("alpha.myshopify.com") == first
        assert sender_keys() == {f"sender#{NUMBER_X}": "alpha.myshopify.com"}  # old kept, new not taken

    def test_two_shops_racing_for_one_number_only_one_wins(self, repo: DynamoShopRepository) -> None:
        alpha = repo.create(new_shop("alpha.myshopify.com"), None)
        beta = repo.create(new_shop("beta.myshopify.com"), None)
        repo.save_settings(alpha, replace(alpha.settings, sender_number=NUMBER_X))
        with pytest.raises(Conflict) as caught:
            repo.save_settings(beta, replace(beta.settings, sender_number=NUMBER_X, shop_name="Beta2"))

        assert caught.value.code == "sender_number_taken"
        assert repo.get("beta.myshopify.com") == beta  # nothing of the losing save was written
        routed = repo.shop_for_sender(NUMBER_X)
        assert routed is not None and routed.shop_id == "alpha.myshopify.com"

    def test_changing_the_number_frees_the_old_one(self, repo: DynamoShopRepository) -> None:
        alpha = repo.create(new_shop("alpha.myshopify.com", NUMBER_X), None)
        beta = repo.create(new_shop("beta.myshopify.com"), None)
        repo.save_settings(alpha, replace(alpha.settings, sender_number=NUMBER_Y))

        assert repo.shop_for_sender(NUMBER_X) is None
        routed = repo.shop_for_sender(NUMBER_Y)
        assert routed is not None and routed.shop_id == "alpha.myshopify.com"
        beta = repo.save_settings(beta, replace(beta.settings, sender_number=NUMBER_X))
        assert beta.settings.sender_number == NUMBER_X
        assert sender_keys() == {f"sender#{NUMBER_X}": "beta.myshopify.com", f"sender#{NUMBER_Y}": "alpha.myshopify.com"}

    def test_removing_the_number_frees_it(self, repo: DynamoShopRepository) -> None:
        alpha = repo.create(new_shop("alpha.myshopify.com", NUMBER_X), None)
        repo.save_settings(alpha, replace(alpha.settings, sender_number=None))

        assert repo.shop_for_sender(NUMBER_X) is None
        assert sender_keys() == {}

    def test_keeping_the_number_keeps_its_key(self, repo: DynamoShopRepository) -> None:
        alpha = repo.create(new_shop("alpha.myshopify.com", NUMBER_X), None)
        repo.save_settings(alpha, replace(alpha.settings, mps=7))

        assert sender_keys() == {f"sender#{NUMBER_X}": "alpha.myshopify.com"}

    def test_saving_a_missing_shop_creates_nothing(self, repo: DynamoShopRepository) -> None:
        with pytest.raises(ConcurrentUpdate):
            repo.save_settings(new_shop("ghost.myshopify.com"), ShopSettings(sender_number=NUMBER_X))

        assert list(ShopRow.scan()) == []
        assert sender_keys() == {}


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
