"""examples/kubernetes: the manifests parse, and every inbox-finder command line in them runs.

Each container's command and args are taken from the YAML, ``$(VAR)`` expanded the way the
kubelet does (from the container's env, the completion index for each pod of the Indexed
Job), the cluster paths mapped to temporary directories, and run with the installed
``inbox-finder`` against local Maildirs, the hook from the ConfigMap included.
"""

from __future__ import annotations

import mailbox
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from inbox_finder.config import load_config
from inbox_finder.testing.mail import new_token, token_mail

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "kubernetes"
EXE = Path(sys.executable).with_name("inbox-finder")
BASE = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
PROFILES = [f"box{i}" for i in range(6)]


def documents() -> dict[str, dict[str, Any]]:
    """Every manifest by ``Kind/name``."""
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            docs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return docs


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]
    job = spec["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else spec
    result: dict[str, Any] = job["template"]["spec"]
    return result


def expand(arg: str, env: dict[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion (an unknown variable stays as written)."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), arg)


def test_manifests_parse_and_the_config_in_the_secret_is_valid(tmp_path: Path) -> None:
    docs = documents()
    assert {"Secret/inbox-finder", "ConfigMap/inbox-finder-hooks"} <= set(docs)
    assert {"CronJob/inbox-finder-scan", "Job/inbox-finder-scan-sharded"} <= set(docs)
    secret = docs["Secret/inbox-finder"]["stringData"]
    (tmp_path / "config.toml").write_text(secret["config.toml"])
    config = load_config(tmp_path / "config.toml")
    assert config.profiles and config.per_host == 8
    for profile in config.profiles.values():
        assert profile["password_env"] in secret  # each password comes from the Secret
    job = docs["Job/inbox-finder-scan-sharded"]["spec"]
    assert job["completionMode"] == "Indexed"
    args = pod_spec(docs["Job/inbox-finder-scan-sharded"])["containers"][0]["args"]
    shard = args[args.index("--shard") + 1]
    assert shard == f"$(JOB_COMPLETION_INDEX)/{job['completions']}"  # N matches completions
    env = pod_spec(docs["Job/inbox-finder-scan-sharded"])["containers"][0]["env"]
    index = next(e for e in env if e["name"] == "JOB_COMPLETION_INDEX")
    assert index["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )


class Cluster:
    """Temporary stand-ins for the pod's mounts, and local mailboxes behind a config."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounts = {
            "/var/lib/inbox-finder": root / "volume",
            "/opt/inbox-finder-hooks": root / "hooks",
            "/etc/inbox-finder": root / "config",
        }
        for path in self.mounts.values():
            path.mkdir()
        self.tokens: dict[str, str] = {}
        lines = []
        for i, name in enumerate(PROFILES):
            box = mailbox.Maildir(root / name, create=True)
            self.tokens[f"{name}@example.com"] = token = new_token()
            box.add(token_mail(token, f"{name}@example.com", BASE + timedelta(minutes=i)))
            lines += [f"[mailbox.{name}]", f'url = "maildir:{root / name}"']
        (self.mounts["/etc/inbox-finder"] / "config.toml").write_text("\n".join(lines) + "\n")
        hooks = documents()["ConfigMap/inbox-finder-hooks"]["data"]
        for name, text in hooks.items():
            hook = self.mounts["/opt/inbox-finder-hooks"] / name
            hook.write_text(self.mapped(text))
            hook.chmod(0o555)

    def mapped(self, text: str) -> str:
        for cluster, local in self.mounts.items():
            text = text.replace(cluster, str(local))
        return text

    def run(
        self, container: dict[str, Any], extra_env: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        env = {e["name"]: e.get("value", "") for e in container.get("env", [])} | extra_env
        argv = [expand(a, env) for a in [*container["command"], *container["args"]]]
        assert argv[0] == "inbox-finder"
        child_env = dict(os.environ) | {k: self.mapped(v) for k, v in env.items()}
        return subprocess.run(
            [str(EXE), *(self.mapped(a) for a in argv[1:])],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def delivered(self) -> dict[str, str]:
        tokens = self.mounts["/var/lib/inbox-finder"] / "tokens"
        return {p.name: p.read_text().strip() for p in tokens.iterdir()} if tokens.is_dir() else {}


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path)


def test_the_cronjob_command_line_runs(cluster: Cluster) -> None:
    container = pod_spec(documents()["CronJob/inbox-finder-scan"])["containers"][0]
    done = cluster.run(container, {})
    assert done.returncode == 0, done.stderr
    assert "No such option" not in done.stderr
    assert cluster.delivered() == cluster.tokens  # every profile's token reached the hook
    assert not any(token in done.stdout for token in cluster.tokens.values())  # not in the log
    state = cluster.mounts["/var/lib/inbox-finder"] / "state"
    assert sorted(p.name for p in state.glob("*.state")) == sorted(f"{n}.state" for n in PROFILES)
    again = cluster.run(container, {})
    assert (again.returncode, again.stdout) == (0, "")  # the next schedule: nothing new


def test_the_indexed_job_shards_cover_every_profile_once(cluster: Cluster) -> None:
    doc = documents()["Job/inbox-finder-scan-sharded"]
    container = pod_spec(doc)["containers"][0]
    reported: list[str] = []
    for index in range(doc["spec"]["completions"]):
        done = cluster.run(container, {"JOB_COMPLETION_INDEX": str(index)})
        assert done.returncode == 0, done.stderr
        assert "No such option" not in done.stderr
        reported += [line for line in done.stdout.splitlines() if line.strip()]
    assert len(reported) == len(PROFILES)  # one line per profile over all pods: no overlap
    assert cluster.delivered() == cluster.tokens  # and no gap
