"""Energy under torch.distributed: two processes on CPU (gloo), each with its own Observer.

On one node only the lowest rank measures (the other's runs carry no energy), so the node is
counted once; on two nodes (told apart by ATLAS_NODE_ID, as containers would be) each node's
rank measures, and the job's energy is the sum over the nodes.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from typing import Any

import pytest
import torch
import torch.distributed as dist
from obs_helpers import Atlasd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, port: int, url: str, prefix: str, node_ids: list[str]) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    os.environ.pop("LOCAL_RANK", None)  # the all_gather path: the lowest rank per node
    if node_ids[rank]:
        os.environ["ATLAS_NODE_ID"] = node_ids[rank]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    from atlas_observatory import Observer, ObserverConfig

    config = ObserverConfig(server_url=url, track_layer_health=False)
    observer = Observer(run_name=f"{prefix}-{rank}", config=config, run_id=f"{prefix}-{rank}")
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(32, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(rank)
    for _epoch in range(2):
        for _ in range(20):
            x = torch.randn(64, 32, generator=generator)
            y = torch.randint(0, 4, (64,), generator=generator)
            observer.step(model, x, y)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        observer.end_epoch()
    observer.finish()
    dist.destroy_process_group()


def _run_job(atlasd: Atlasd, prefix: str, node_ids: list[str]) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")  # fork would copy this process's threads
    port = _free_port()
    workers = [
        context.Process(target=_worker, args=(rank, port, atlasd.url, prefix, node_ids))
        for rank in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)  # a safety limit against a hung collective
    assert [worker.exitcode for worker in workers] == [0, 0]
    return [atlasd.run(f"{prefix}-{rank}") for rank in range(2)]


def _epoch_joules(atlasd: Atlasd, run_id: str) -> float:
    epochs = atlasd.get(f"/api/v1/runs/{run_id}/epochs")["epochs"]
    return sum(
        float(e["joules"])
        for epoch in epochs
        for e in epoch.get("energy", [])
        if isinstance(e["joules"], float | int)
    )


def test_one_node_is_measured_once(atlasd: Atlasd) -> None:
    runs = _run_job(atlasd, "ddp-one-node", ["", ""])
    sampling = [run["device"]["energy"]["sampling"] for run in runs]
    assert sampling == [True, False]
    assert _epoch_joules(atlasd, "ddp-one-node-0") > 0
    assert _epoch_joules(atlasd, "ddp-one-node-1") == 0


def test_two_nodes_each_measure_and_the_job_is_their_sum(atlasd: Atlasd) -> None:
    runs = _run_job(atlasd, "ddp-two-nodes", ["node-a", "node-b"])
    assert [run["device"]["energy"]["sampling"] for run in runs] == [True, True]
    assert [run["device"]["energy"]["node"] for run in runs] == ["node-a", "node-b"]
    per_node = [_epoch_joules(atlasd, f"ddp-two-nodes-{rank}") for rank in range(2)]
    assert all(j > 0 for j in per_node)
    job = sum(per_node)
    # The job's energy is what atlasd reports for each node's run, added up.
    totals = [float(run["totals"]["energy_joules"]) for run in runs]
    assert sum(totals) == pytest.approx(job, rel=1e-9)
