"""The command line as a user runs it: exit codes, one-line errors, JSON keys, README examples."""

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
MEMORY_KEYS = {
    "model",
    "params_total",
    "params_active",
    "weights_bytes",
    "kv_bytes_per_token",
    "kv_cache_bytes",
    "activation_bytes",
    "overhead_bytes",
    "total_bytes",
}
GPU_KEYS = {"gpu_memory_bytes", "fits", "max_concurrent_sequences"}


run = run_cli


def test_memory_json_keys_and_integer_bytes():
    proc = run(
        "memory",
        "llama-3.1-70b",
        "--quant",
        "awq",
        "--gpu",
        "A100-80GB",
        "--batch",
        "50",
        "--context",
        "8192",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data.keys() >= MEMORY_KEYS | GPU_KEYS
    for key in MEMORY_KEYS - {"model"}:
        assert isinstance(data[key], int)
    assert data["fits"] is False


def test_memory_without_gpu_has_no_verdict():
    data = json.loads(run("memory", "qwen3-8b", "--json").stdout)
    assert data.keys() >= MEMORY_KEYS and data["fits"] is None


def test_human_output_has_gb_and_gib_columns():
    proc = run("memory", "llama-3.1-8b", "--quant", "awq", "--gpu", "RTX-4090", "--batch", "2")
    assert proc.returncode == 0
    assert " GB" in proc.stdout and " GiB" in proc.stdout and "FITS" in proc.stdout


def test_dtype_is_an_alias_of_quant():
    a = json.loads(run("memory", "llama-3.1-8b", "--dtype", "fp8", "--json").stdout)
    assert a["quantization"] == "fp8"


def test_config_path_and_folder(tmp_path):
    src = ROOT / "src/canserve/catalog/data/models/Qwen__Qwen3-0.6B.json"
    (tmp_path / "config.json").write_text(src.read_text())
    by_file = json.loads(run("memory", "--config", str(src), "--json").stdout)
    by_dir = json.loads(run("memory", "--config", str(tmp_path), "--json").stdout)
    assert by_file["params_total"] == by_dir["params_total"] == 596_049_920


@pytest.mark.parametrize(
    "args",
    [
        ("memory", "no-such-model"),
        ("memory", "llama-3.1-8b", "--gpu", "H1000"),
        ("memory", "llama-3.1-8b", "--batch", "-3"),
        ("memory", "llama-3.1-8b", "--batch", "many"),
        ("memory", "llama-3.1-8b", "--context", "10000000"),
        ("memory", "llama-3.1-8b", "--quant", "int3"),
        ("memory", "llama-3.1-8b", "--kv-dtype", "fp6"),
        ("memory", "llama-3.1-8b", "--tp", "5"),
        ("memory", "--config", "/nonexistent/config.json"),
        ("memory", "llama-3.1-8b", "--frobnicate"),
        ("memory",),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args):
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_malformed_config_json(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    proc = run("memory", "--config", str(bad))
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr
    bad.write_text('{"model_type": "bert", "hidden_size": 768}')
    proc = run("memory", "--config", str(bad))
    assert proc.returncode == 2 and "not a decoder LLM" in proc.stderr


def test_unknown_model_suggests_close_matches():
    proc = run("memory", "llama-3.1-7b")
    assert "close matches" in proc.stderr and "llama-3.1-70b" in proc.stderr


@pytest.mark.parametrize("command", ["models", "gpus", "quants", "frameworks"])
def test_listings_json(command):
    proc = run(command, "--json")
    assert proc.returncode == 0
    assert len(json.loads(proc.stdout)) >= 6


def test_models_filter():
    rows = json.loads(run("models", "qwen3", "--json").stdout)
    assert rows and all("qwen3" in r["id"].lower() for r in rows)


def test_gpus_filter():
    rows = json.loads(run("gpus", "h100", "--json").stdout)
    assert {r["id"] for r in rows} == {"H100-SXM-80GB", "H100-PCIE-80GB", "H100-NVL-94GB"}


def test_readme_commands_run():
    """Every `canserve ...` line in the README's code blocks runs and exits 0."""
    lines = [
        line.strip().removeprefix("$ ")
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.strip().removeprefix("$ ").startswith("canserve ")
    ]
    assert lines
    for line in lines:
        proc = run(*line.split()[1:])
        assert proc.returncode == 0, (line, proc.stderr)


def test_hub_lookup_reads_the_local_cache_offline(tmp_path):
    """--hub goes through huggingface_hub; offline, a cached config.json is found, a missing one
    is a one-line error. The cache is laid out as huggingface_hub lays it out."""
    repo = tmp_path / "models--acme--tiny-llama"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    src = ROOT / "src/canserve/catalog/data/models/meta-llama__Llama-3.2-1B-Instruct.json"
    (snap / "config.json").write_text(src.read_text())
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path)}
    proc = run("memory", "acme/tiny-llama", "--hub", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["params_total"] == 1_235_814_400
    missing = run("memory", "acme/absent", "--hub", env=env)
    assert missing.returncode == 2 and "offline" in missing.stderr
    assert run("memory", "acme/tiny-llama", env=env).returncode == 2  # no --hub: catalog only


PERF_KEYS = {
    "decode_step_s",
    "decode_tokens_per_s",
    "tpot_s",
    "prefill_tokens_per_s",
    "ttft_s",
    "e2e_s",
    "bound",
}


def test_perf_json_keys():
    proc = run(
        "perf",
        "llama-3.1-8b",
        "--gpu",
        "H100",
        "--batch",
        "16",
        "--context",
        "4096",
        "--prompt",
        "1000",
        "--output",
        "200",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout).keys() >= PERF_KEYS


def test_perf_with_config_path():
    src = ROOT / "src/canserve/catalog/data/models/Qwen__Qwen3-0.6B.json"
    proc = run("perf", "--config", str(src), "--gpu", "L4", "--json")
    assert proc.returncode == 0, proc.stderr


def test_perf_sweep_and_plot(tmp_path):
    png = tmp_path / "curve.png"
    proc = run(
        "perf",
        "llama-3.1-8b",
        "--gpu",
        "H100",
        "--sweep",
        "batch=1,8,64",
        "--plot",
        str(png),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["batch"] for r in rows] == [1, 8, 64]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "curve.svg"
    assert (
        run(
            "perf", "llama-3.1-8b", "--gpu", "H100", "--sweep", "batch=1,2", "--plot", str(svg)
        ).returncode
        == 0
    )
    assert svg.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    "args",
    [
        ("perf", "llama-3.1-8b"),
        ("perf", "llama-3.1-8b", "--gpu", "H100", "--sweep", "size=1,2"),
        ("perf", "llama-3.1-8b", "--gpu", "H100", "--sweep", "batch=a,b"),
        ("perf", "llama-3.1-8b", "--gpu", "H100", "--tp", "3"),
        ("perf", "llama-3.1-8b", "--gpu", "H100", "--plot", "x.png"),
        ("perf", "llama-3.1-8b", "--gpu", "H100", "--sweep", "batch=1", "--plot", "x.gif"),
        ("perf", "llama-3.1-8b", "--gpu", "H100", "--calibration", "/nonexistent.toml"),
    ],
)
def test_perf_bad_input(args):
    proc = run(*args)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    assert proc.stderr.count("\n") == 1


SIM_KEYS = {
    "ttft_s",
    "tpot_s",
    "e2e_s",
    "queue_s",
    "throughput_requests_per_s",
    "throughput_output_tokens_per_s",
    "goodput",
    "preemptions",
}


def test_simulate_json_contract(tmp_path):
    cdf, timeline = tmp_path / "cdf.svg", tmp_path / "timeline.png"
    proc = run(
        "simulate",
        "llama-3.1-8b",
        "--gpu",
        "H100",
        "--rate",
        "5",
        "--requests",
        "300",
        "--slo",
        "ttft_p95=1s,tpot_p99=50ms",
        "--plot-cdf",
        str(cdf),
        "--plot-timeline",
        str(timeline),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data.keys() >= SIM_KEYS
    for key in ("ttft_s", "tpot_s", "e2e_s", "queue_s"):
        assert data[key].keys() == {"p50", "p90", "p95", "p99", "mean"}
    assert cdf.exists() and timeline.exists()


def test_simulate_users_and_find_max_rate():
    proc = run(
        "simulate",
        "llama-3.1-8b",
        "--gpu",
        "H100",
        "--users",
        "20",
        "--think-s",
        "3",
        "--requests",
        "300",
    )
    assert proc.returncode == 0 and "TTFT" in proc.stdout
    proc = run(
        "simulate",
        "llama-3.1-8b",
        "--gpu",
        "H100",
        "--find-max-rate",
        "--slo",
        "ttft_p95=1s",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["max_rate_requests_per_s"] > 1


@pytest.mark.parametrize(
    "args",
    [
        ("simulate", "llama-3.1-8b", "--rate", "5"),
        ("simulate", "llama-3.1-8b", "--gpu", "H100"),
        ("simulate", "llama-3.1-8b", "--gpu", "H100", "--rate", "-2"),
        ("simulate", "llama-3.1-8b", "--gpu", "H100", "--trace", "/nonexistent.csv"),
        ("simulate", "llama-3.1-8b", "--gpu", "H100", "--rate", "1", "--slo", "fast"),
        ("simulate", "llama-3.1-8b", "--gpu", "H100", "--rate", "1", "--prompt", "lots"),
        ("simulate", "llama-3.1-8b", "--gpu", "H100", "--find-max-rate"),
        ("simulate", "llama-3.1-8b", "--gpu", "H100", "--find-max-rate", "--slo", "ttft_p99=1us"),
    ],
)
def test_simulate_bad_input(args):
    proc = run(*args)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
    assert proc.stderr.count("\n") == 1


def test_simulate_empty_trace(tmp_path):
    trace = tmp_path / "empty.csv"
    trace.write_text("arrival_s,prompt,output\n")
    proc = run("simulate", "llama-3.1-8b", "--gpu", "H100", "--trace", str(trace))
    assert proc.returncode == 2 and "no requests" in proc.stderr


def test_cost_json_contract():
    proc = run("cost", "llama-3.1-8b", "--gpu", "H100", "--tokens-per-day", "5000000", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d.keys() >= {
        "self_hosted_usd_per_million_tokens",
        "monthly_total_usd",
        "monthly_usd",
        "apis",
        "recommendation",
    }
    assert d["monthly_usd"]["engineering_usd"] > 0
    for api in d["apis"]:
        assert api.keys() >= {
            "name",
            "usd_per_million_input_tokens",
            "usd_per_million_output_tokens",
            "monthly_usd",
            "break_even_tokens_per_day",
        }
    assert d["price"]["source"] and d["deployment"]["gpu"] == "H100-SXM-80GB"


def test_cost_with_usd_per_hour_and_plot(tmp_path):
    png = tmp_path / "cost.png"
    proc = run("cost", "--usd-per-hour", "2", "--tokens-per-day", "2500000", "--plot", str(png))
    assert proc.returncode == 0, proc.stderr
    assert "recommendation" in proc.stdout and png.exists()


def test_cost_on_prem():
    d = json.loads(run("cost", "llama-3.1-8b", "--gpu", "H100", "--on-prem", "--json").stdout)
    assert "hardware_amortized_usd" in d["monthly_usd"]
    assert "power_and_cooling_usd" in d["monthly_usd"]


def test_plan_json_contract_and_report(tmp_path):
    report = tmp_path / "plan.html"
    proc = run(
        "plan",
        "llama-3.1-70b",
        "--users",
        "50",
        "--prompt",
        "200",
        "--output",
        "300",
        "--slo",
        "e2e_p95=5s",
        "--gpu",
        "A100-80GB,H100",
        "--report",
        str(report),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["required_output_tokens_per_s"] == 3000
    plan_keys = {
        "gpu",
        "gpu_count",
        "tensor_parallel_size",
        "pipeline_parallel_size",
        "replicas",
        "quantization",
        "memory_per_gpu_bytes",
        "gpu_memory_bytes",
        "max_num_seqs",
        "predicted",
        "cost_usd_per_hour",
        "cost_usd_per_million_output_tokens",
        "checklist",
        "vllm_command",
    }
    assert d["plans"] and all(p.keys() >= plan_keys for p in d["plans"])
    assert d["rejected"] and all("reason" in r for r in d["rejected"])
    html = report.read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html and "vllm serve" in html
    assert 'src="http' not in html and "<link" not in html  # no external assets


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "llama-3.1-70b"),
        ("plan", "llama-3.1-70b", "--users", "10", "--rate", "2"),
        ("plan", "llama-3.1-70b", "--users", "-5"),
        ("plan", "llama-3.1-70b", "--users", "50", "--slo", "tpot_p99=0.5ms", "--gpu", "H100"),
        ("plan", "llama-3.1-70b", "--users", "5", "--gpu", "H9000"),
        ("cost", "--tokens-per-day", "1000"),
        ("cost", "llama-3.1-8b", "--gpu", "RTX-4060-TI-16GB"),
        ("cost", "--usd-per-hour", "-1"),
        ("cost", "llama-3.1-8b", "--gpu", "H100", "--utilization", "3"),
    ],
)
def test_plan_and_cost_bad_input(args):
    proc = run(*args)
    assert proc.returncode == 2 and proc.stderr.startswith("error: "), proc.stderr
    assert proc.stderr.count("\n") == 1


def test_plan_several_candidate_models():
    proc = run("plan", "llama-3.1-8b,qwen3-8b", "--rate", "2", "--slo", "e2e_p95=10s", "--json")
    assert proc.returncode == 0, proc.stderr
    models = {p["model"] for p in json.loads(proc.stdout)["plans"]}
    assert models <= {"meta-llama/Meta-Llama-3.1-8B", "Qwen/Qwen3-8B"} and models


def test_old_plan_spellings_still_work_with_a_deprecation_line():
    old = run(
        "plan", "llama-3.1-8b", "--rate", "2", "--latency-s", "10", "--gpus", "H100", "--json"
    )
    new = run(
        "plan", "llama-3.1-8b", "--rate", "2", "--slo", "e2e_p95=10s", "--gpu", "H100", "--json"
    )
    assert old.returncode == new.returncode == 0, old.stderr
    assert json.loads(old.stdout) == json.loads(new.stdout)
    warnings = old.stderr.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("warning: ") for w in warnings)
    assert "--slo e2e_p95=10s" in old.stderr and "--gpu" in old.stderr


@pytest.mark.parametrize("command", ["memory", "perf", "simulate", "plan", "cost"])
def test_one_vocabulary_in_every_command(command):
    """The shared flags exist under the same names wherever the idea applies."""
    help_text = run(command, "--help", env={"COLUMNS": "400"}).stdout
    shared = {
        "memory": [
            "--gpu",
            "--gpus",
            "--tp",
            "--pp",
            "--replicas",
            "--context",
            "--quant",
            "--kv-dtype",
            "--framework",
        ],
        "perf": [
            "--gpu",
            "--tp",
            "--pp",
            "--context",
            "--prompt",
            "--output",
            "--quant",
            "--kv-dtype",
            "--framework",
            "--calibration",
        ],
        "simulate": [
            "--gpu",
            "--gpus",
            "--tp",
            "--replicas",
            "--context",
            "--max-model-len",
            "--prompt",
            "--output",
            "--slo",
            "--quant",
            "--kv-dtype",
            "--framework",
            "--calibration",
        ],
        "plan": [
            "--gpu",
            "--gpus",
            "--context",
            "--prompt",
            "--output",
            "--slo",
            "--quant",
            "--kv-dtype",
            "--framework",
            "--calibration",
        ],
        "cost": [
            "--gpu",
            "--gpus",
            "--tp",
            "--prompt",
            "--output",
            "--quant",
            "--kv-dtype",
            "--framework",
        ],
    }[command]
    for flag in shared:
        assert flag in help_text, (command, flag)


def test_same_request_defaults_everywhere():
    sim = json.loads(
        run(
            "simulate", "llama-3.1-8b", "--gpu", "H100", "--rate", "1", "--requests", "20", "--json"
        ).stdout
    )
    perf = json.loads(run("perf", "llama-3.1-8b", "--gpu", "H100", "--json").stdout)
    assert perf["prompt"] == 512 and perf["output"] == 256
    assert sim["requests"] == 20


def test_exact_check_without_transformers_is_one_error_line():
    """The optional exact count says how to get it (transformers is not a test dependency: the
    golden file tests/golden/param_counts.json holds its counts for every catalog model)."""
    proc = run("memory", "llama-3.1-8b", "--exact")
    if proc.returncode == 0:  # transformers installed: the counts must agree
        assert "(equal)" in proc.stdout
    else:
        assert proc.returncode == 2 and proc.stderr.startswith("error: ")
        assert "canserve[exact]" in proc.stderr and proc.stderr.count("\n") == 1
