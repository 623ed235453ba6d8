"""Smaller features of the local server: watchlists, subscription counts, encrypted channels,
the config file and the pytest plugin's factory."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
from pathlib import Path

import pusher
import pytest

from doubletick.server import ConfigError, ServerConfig, ServerInfo, load_config
from doubletick.server.cli import add_arguments, build_config
from tests.integration.server_support import ClientFactory, ws_client

__all__ = ["ws_client"]


async def test_a_watchlist_reports_users_coming_online_and_going_offline(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    early = await ws_client(pusher_server)
    await early.sign_in('{"id":"early"}')
    watcher = await ws_client(pusher_server)
    await watcher.sign_in('{"id":"w","watchlist":["early","late"]}')
    online = await watcher.expect("pusher_internal:watchlist_events")
    assert json.loads(online["data"]) == {"events": [{"name": "online", "user_ids": ["early"]}]}
    late = await ws_client(pusher_server)
    await late.sign_in('{"id":"late"}')
    came = await watcher.expect("pusher_internal:watchlist_events")
    assert json.loads(came["data"])["events"] == [{"name": "online", "user_ids": ["late"]}]
    await late.ws.close()
    gone = await watcher.expect("pusher_internal:watchlist_events")
    assert json.loads(gone["data"])["events"] == [{"name": "offline", "user_ids": ["late"]}]


async def test_subscription_counts_are_sent_when_the_app_enables_them(
    pusher_server_factory: ClientFactory, ws_client: ClientFactory
) -> None:
    info = pusher_server_factory(subscription_count_events=True)
    first, second = await ws_client(info), await ws_client(info)
    await first.subscribe("news")
    count = await first.expect("pusher_internal:subscription_count")
    assert json.loads(count["data"]) == {"subscription_count": 1}
    await second.subscribe("news")
    for client in (first, second):
        count = await client.expect("pusher_internal:subscription_count")
        assert json.loads(count["data"]) == {"subscription_count": 2}


async def test_an_encrypted_channel_relays_the_sdks_ciphertext_untouched(
    pusher_server: ServerInfo, ws_client: ClientFactory
) -> None:
    master_key = base64.b64encode(b"m" * 32).decode()
    client = await ws_client(pusher_server)
    await client.subscribe("private-encrypted-vault")
    sdk = pusher.Pusher(
        app_id=pusher_server.app_id,
        key=pusher_server.key,
        secret=pusher_server.secret,
        host=pusher_server.host,
        port=pusher_server.port,
        ssl=False,
        encryption_master_key_base64=master_key,
    )
    await asyncio.to_thread(sdk.trigger, "private-encrypted-vault", "secret", {"pin": 1234})
    frame = await client.expect("secret")
    payload = json.loads(frame["data"])
    assert set(payload) == {"ciphertext", "nonce"}
    assert "1234" not in frame["data"]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_a_config_file_sets_several_apps_and_the_command_line_overrides_the_first(
    tmp_path: Path,
) -> None:
    path = tmp_path / "server.toml"
    path.write_text(
        "[server]\nmax_send_buffer_bytes = 65536\n\n"
        '[[apps]]\napp_id = "1"\nkey = "one"\nsecret = "s1"\nmax_presence_members = 5\n\n'
        '[[apps]]\napp_id = 2\nkey = "two"\nsecret = "s2"\nwebhook_urls = ["http://x/hook"]\n'
    )
    config = build_config(parse("--config", str(path), "--max-client-events-per-second", "0"))
    assert config.max_send_buffer_bytes == 65536
    first, second = config.apps
    assert (first.key, first.max_presence_members, first.max_client_events_per_second) == (
        "one",
        5,
        0,
    )
    assert (second.app_id, second.webhook_urls) == ("2", ("http://x/hook",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[apps]]\nkey = 'a'\nsurprise = 1\n", "unknown setting 'surprise'"),
        ("[[apps]]\nmax_batch_size = 'ten'\n", "max_batch_size must be of type int"),
        ("[[apps]]\nmax_batch_size = 0\n", "max_batch_size must be > 0"),
        ("[[apps]]\napp_id = 'abc'\n", "digits only"),
        ("[[apps]]\nkey = 'a'\n[[apps]]\nkey = 'a'\napp_id = '2'\n", "share the key"),
        ("[server\n", "invalid TOML"),
    ],
)
def test_a_bad_config_file_is_refused_with_a_message_naming_the_setting(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "server.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_the_plugin_factory_accepts_a_config_or_app_settings_but_not_both(
    pusher_server_factory: ClientFactory,
) -> None:
    with pytest.raises(TypeError):
        pusher_server_factory(ServerConfig(), max_batch_size=3)
    info = pusher_server_factory(key="custom", secret="s")
    assert info.ws_url.endswith("/app/custom") and info.pusher_url.startswith("http://custom:s@")
