"""Response bodies shaped like Hiro's Stacks Blockchain API and the Stacks node's RPC (trimmed to the fields
that matter plus a realistic context of the rest)."""

from __future__ import annotations

from typing import Any

from services.chain.clarity import principal_cv, string_ascii_cv, to_hex, tuple_cv, uint_cv

REGISTRY = "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7.policy-registry"
OWNER = "SP3FBR2AGK5H9QBDH3EEN6DF8EK8JY7RX8QJ5SVTE"
TXID = "0x" + "ab" * 32
BLOCK_HASH = "0x" + "cd" * 32


def policy_created_hex(policy_id: int) -> str:
    return to_hex(
        tuple_cv(
            {
                "event": string_ascii_cv("policy-created"),
                "policy-id": uint_cv(policy_id),
                "owner": principal_cv(OWNER),
                "premium-ustx": uint_cv(1_000_000),
            }
        )
    )


def api_status() -> dict[str, Any]:
    return {
        "server_version": "stacks-blockchain-api v8.13.6 (master:6d2e8b2)",
        "status": "ready",
        "pox_v1_unlock_height": 1,
        "chain_tip": {
            "block_height": 1_234_567,
            "block_hash": BLOCK_HASH,
            "index_block_hash": "0x" + "ef" * 32,
            "microblock_hash": None,
            "microblock_sequence": None,
            "burn_block_height": 880_123,
        },
    }


def node_info() -> dict[str, Any]:
    return {
        "peer_version": 402653196,
        "pox_consensus": "17f76e597bab45646956f38dd39573085d72cbc0",
        "burn_block_height": 880_123,
        "stable_pox_consensus": "8e0561978fc5506b68a589c402dad97e862edb59",
        "stable_burn_block_height": 880_116,
        "server_version": "stacks-node 3.1.0.0.5 (release/3.1.0.0.5:d3fb0c5, release build, linux [x86_64])",
        "network_id": 1,
        "parent_network_id": 3652501241,
        "stacks_tip_height": 1_234_567,
        "stacks_tip": "cd" * 32,
        "stacks_tip_consensus_hash": "c1b9ae4d6ab1f4a24bd9ed8d0d0c2f2c8e9b3d2a",
        "genesis_chainstate_hash": "74237aa39aa50a83de11a4f53e9d3bb7d43461d1de9873f402e5453ae60bc59b",
        "unanchored_tip": None,
        "unanchored_seq": None,
        "tenure_height": 187_654,
        "exit_at_block_height": None,
        "is_fully_synced": True,
        "node_public_key": "0284b2a2f2a51d4a0a4c3c43e1e2c1ac2a0c5db3e8b8f2a1b5d6e7f8091a2b3c4d",
        "node_public_key_hash": "e26cce8f6abe06b9fc81c3b11bda9c6b27bd1d55",
        "affirmations": None,
        "last_pox_anchor": None,
        "stackerdbs": [],
    }


def transaction(status: str = "success", result_hex: str = "0x0703", **over: Any) -> dict[str, Any]:
    mined = status not in ("pending",) and not status.startswith("dropped_")
    tx: dict[str, Any] = {
        "tx_id": TXID,
        "nonce": 7,
        "fee_rate": "3000",
        "sender_address": "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7",
        "sponsored": False,
        "post_condition_mode": "deny",
        "post_conditions": [],
        "anchor_mode": "any",
        "tx_status": status,
        "tx_type": "contract_call",
        "contract_call": {
            "contract_id": REGISTRY,
            "function_name": "update-policy-status",
            "function_signature": "(define-public (update-policy-status (policy-id uint) ...))",
        },
        "receipt_time": 1764201600,
        "receipt_time_iso": "2026-11-27T00:00:00.000Z",
    }
    if mined:
        tx.update(
            {
                "block_hash": BLOCK_HASH,
                "block_height": 1_234_560,
                "block_time": 1764201650,
                "block_time_iso": "2026-11-27T00:00:50.000Z",
                "burn_block_height": 880_120,
                "burn_block_time": 1764201600,
                "burn_block_time_iso": "2026-11-27T00:00:00.000Z",
                "canonical": True,
                "microblock_canonical": True,
                "microblock_hash": "0x",
                "microblock_sequence": 2147483647,
                "parent_block_hash": "0x" + "aa" * 32,
                "tx_index": 3,
                "tx_result": {"hex": result_hex, "repr": "(ok true)"},
                "event_count": 1,
                "events": [
                    {
                        "event_index": 0,
                        "event_type": "smart_contract_log",
                        "tx_id": TXID,
                        "contract_log": {
                            "contract_id": REGISTRY,
                            "topic": "print",
                            "value": {"hex": policy_created_hex(1), "repr": "(tuple ...)"},
                        },
                    }
                ],
                "execution_cost_read_count": 12,
                "execution_cost_read_length": 4500,
                "execution_cost_runtime": 120000,
                "execution_cost_write_count": 3,
                "execution_cost_write_length": 300,
                "vm_error": None,
            }
        )
    tx.update(over)
    return tx


def block(height: int = 1_234_560, canonical: bool = True) -> dict[str, Any]:
    return {
        "canonical": canonical,
        "height": height,
        "hash": BLOCK_HASH,
        "block_time": 1764201650,
        "block_time_iso": "2026-11-27T00:00:50.000Z",
        "tenure_height": 187_650,
        "index_block_hash": "0x" + "ef" * 32,
        "parent_block_hash": "0x" + "aa" * 32,
        "parent_index_block_hash": "0x" + "bb" * 32,
        "burn_block_time": 1764201600,
        "burn_block_time_iso": "2026-11-27T00:00:00.000Z",
        "burn_block_hash": "0x" + "00" * 8 + "11" * 24,
        "burn_block_height": 880_120,
        "miner_txid": "0x" + "12" * 32,
        "tx_count": 5,
        "execution_cost_read_count": 100,
        "execution_cost_read_length": 1000,
        "execution_cost_runtime": 10000,
        "execution_cost_write_count": 10,
        "execution_cost_write_length": 100,
    }


def log_row(policy_id: int, event_index: int = 0, tx_id: str = TXID) -> dict[str, Any]:
    return {
        "event_index": event_index,
        "event_type": "smart_contract_log",
        "tx_id": tx_id,
        "contract_log": {
            "contract_id": REGISTRY,
            "topic": "print",
            "value": {"hex": policy_created_hex(policy_id), "repr": '(tuple (event "policy-created") ...)'},
        },
    }


def logs_page(rows: list[dict[str, Any]], next_cursor: str | None, cursor: str | None = None) -> dict[str, Any]:
    return {
        "limit": 2,
        "offset": 0,
        "total": 3,
        "next_cursor": next_cursor,
        "prev_cursor": None,
        "cursor": cursor,
        "results": rows,
    }


def stx_asset_row() -> dict[str, Any]:
    return {
        "event_index": 1,
        "event_type": "stx_asset",
        "tx_id": TXID,
        "asset": {"asset_event_type": "transfer", "sender": OWNER, "recipient": REGISTRY, "amount": "1000000"},
    }
