"""The grading engine is not a door: its Dask clusters answer only clients with the run's credentials.

The local cluster that ``--workers N`` starts (course/engine.py ``dask_client``) listens on
127.0.0.1, speaks only TLS and requires the certificate made for the run, so no other user
of the machine can connect to it and run code as the grader (root in CI); an external
``--scheduler`` is reached over TLS with the instructor's files, and a plain tcp:// one is
refused unless ``--insecure``. The external cluster here is started with the ``dask
scheduler`` / ``dask worker`` command lines and the openssl recipe of docs/GRADING_AT_SCALE.md.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from course import engine
from tests.net import free_port

# What another local user tries, as uid 65534: connect to the scheduler (plain, and TLS with a
# certificate of its own) and run a function there; connect to each worker and nanny. It prints
# one outcome per attempt; the function would leave ``marker`` (written as the grader's uid).
ATTACK = r"""
import asyncio, json, os, sys
from distributed import Client, Security
from distributed.comm import connect

scheduler, others, marker = sys.argv[1], sys.argv[2].split(",") if sys.argv[2] else [], sys.argv[3]
plain = lambda address: "tcp://" + address.split("://", 1)[1]

def plant():
    with open(marker, "w") as f:
        f.write(str(os.getuid()))
    return os.getuid()

outcomes = {}
for label, address, security in (("scheduler plain", plain(scheduler), None),
                                 ("scheduler own TLS", scheduler, Security.temporary())):
    try:
        client = Client(address, security=security, timeout=5)
    except BaseException as exc:
        outcomes[label] = "refused: " + type(exc).__name__
        continue
    try:
        outcomes[label] = "ran as uid %s" % client.submit(plant, pure=False).result(timeout=30)
    except BaseException as exc:
        outcomes[label] = "connected, did not run: " + type(exc).__name__
    client.close()

async def reach(address, security):
    args = security.get_connection_args("client") if security else {}
    comm = await connect(address, timeout=3, **args)
    await comm.close()

for address in others:
    for label, target, security in (("plain", plain(address), None), ("own TLS", address, Security.temporary())):
        try:
            asyncio.run(reach(target, security))
            outcomes[address + " " + label] = "connected"
        except BaseException as exc:
            outcomes[address + " " + label] = "refused: " + type(exc).__name__
print(json.dumps(outcomes))
"""

NOBODY = 65534


def _attack(scheduler: str, others: list[str], folder: Path) -> dict:
    """Run ATTACK as uid/gid 65534 (no groups) against ``scheduler`` and ``others``."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "LANG": "C.UTF-8"}
    proc = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                           sys.executable, "-c", ATTACK, scheduler, ",".join(others), str(folder / "planted")],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def nobody_folder():
    """A folder uid 65534 can write (pytest's are 0700 root), if this machine can run as it."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        if os.environ.get("CI"):
            pytest.fail("CI runs as root with util-linux's setpriv: the attack as uid 65534 must run")
        pytest.skip("needs root and setpriv to act as another user (uid 65534)")
    folder = Path(tempfile.mkdtemp(prefix="dlcourse-nobody-"))
    folder.chmod(0o777)
    probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable,
                            "-c", "import distributed, os; print(os.getuid())"],
                           cwd=folder, env={"PATH": "/usr/bin:/bin", "HOME": str(folder)},
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == str(NOBODY), f"this venv's python does not run as uid {NOBODY}: {probe.stderr}"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def engine_cluster():
    """The local cluster exactly as the engine starts it (``--workers``), one worker."""
    with engine.dask_client(1) as client:
        yield client


def _others(client) -> list[str]:
    """Every other address of the cluster: workers and their nannies."""
    info = client.scheduler_info()["workers"]
    return sorted(list(info) + [w["nanny"] for w in info.values() if w.get("nanny")])


def test_local_cluster_answers_only_its_own_tls_clients(engine_cluster):
    """Is the engine's local cluster TLS-only on 127.0.0.1: a plain client and a client with
    another self-signed CA are refused within a few seconds, a client with the run's Security
    connects and runs a function; are its credentials in memory only (no files to read, not on
    any command line) and new for each run?"""
    from distributed import Client, Security

    address = engine_cluster.scheduler.address
    assert address.startswith("tls://127.0.0.1:")
    others = _others(engine_cluster)
    assert others and all(a.startswith("tls://127.0.0.1:") for a in others)
    for label, target, security in (("plain", "tcp://" + address.split("://", 1)[1], None),
                                     ("another CA", address, Security.temporary())):
        started = time.perf_counter()
        with pytest.raises((OSError, TimeoutError)):
            Client(target, security=security, timeout=5)
        assert time.perf_counter() - started < 10, label
    with Client(address, security=engine_cluster.security, timeout=10) as own:
        assert own.submit(os.getpid, pure=False).result(timeout=30) != os.getpid()

    security = engine_cluster.security
    assert security.require_encryption
    for field in ("tls_ca_file", "tls_client_cert", "tls_client_key", "tls_scheduler_key", "tls_worker_key"):
        assert getattr(security, field).startswith("-----BEGIN"), f"{field} is a file, not in memory"
    key = security.tls_worker_key.strip().splitlines()[1]
    for pid in engine_cluster.run(os.getpid).values():  # the worker processes
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert "PRIVATE KEY" not in cmdline and key not in cmdline
    assert engine.local_security().tls_worker_key != security.tls_worker_key  # per run
    scratch = Path(engine_cluster.run(lambda dask_worker: dask_worker.local_directory).popitem()[1])
    private = next(p for p in [scratch, *scratch.parents] if p.name.startswith("dlcourse-dask-"))
    assert stat.S_IMODE(private.stat().st_mode) == 0o700  # spilled data: not in a shared /tmp folder


def test_local_cluster_http_ports_show_nothing(engine_cluster):
    """Do the scheduler's and workers' plain HTTP ports (127.0.0.1) serve no pages (task names
    are students, logs are grading logs)?"""
    from distributed.comm import get_tcp_server_addresses

    ports = get_tcp_server_addresses(engine_cluster.cluster.scheduler.http_server)
    for found in engine_cluster.run(lambda dask_worker: get_tcp_server_addresses(dask_worker.http_server)).values():
        ports += found
    assert ports and all(host == "127.0.0.1" for host, _ in ports)
    for host, port in ports:
        for path in ("/info/main/workers.html", "/json/identity.json", "/metrics", "/health"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5)
            assert err.value.code == 404


def test_another_user_cannot_run_code_on_the_engine_cluster(engine_cluster, nobody_folder):
    """As uid 65534: can a plain or self-certified client reach the engine's running cluster
    (scheduler, worker, nanny) and run a function? The same attack on a cluster without
    security, as the engine used to start it, runs the function as the grader."""
    from dask.distributed import Client, LocalCluster

    outcomes = _attack(engine_cluster.scheduler.address, _others(engine_cluster), nobody_folder)
    assert len(outcomes) == 2 + 2 * len(_others(engine_cluster))
    assert all(o.startswith("refused") for o in outcomes.values()), outcomes
    assert not (nobody_folder / "planted").exists()

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as open_cluster, \
            Client(open_cluster) as client:  # the control: the attack itself works
        others = _others(client)
        outcomes = _attack(open_cluster.scheduler_address, others, nobody_folder)
    assert outcomes["scheduler plain"] == f"ran as uid {os.geteuid()}", outcomes
    assert all(outcomes[f"{a} plain"] == "connected" for a in others), outcomes
    assert (nobody_folder / "planted").read_text() == str(os.geteuid())


def test_plain_scheduler_is_refused_without_insecure(tmp_path, capsys, monkeypatch):
    """Is ``--scheduler tcp://...`` (or an address without a scheme) refused with a message
    naming the TLS options and --insecure, before anything is graded; a tls:// one without
    files refused; TLS files without --scheduler refused; and do --insecure and the files
    reach autograde()?"""
    from course import autograde as command

    for address in ("tcp://127.0.0.1:8786", "127.0.0.1:8786"):
        with pytest.raises(SystemExit) as exit_:
            command.main(["demo", "--scheduler", address])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"refusing the tcp:// scheduler {address}" in err
        assert "--tls-ca-file" in err and "--insecure" in err
    with pytest.raises(SystemExit):
        command.main(["demo", "--scheduler", "tls://127.0.0.1:8786"])
    assert "needs --tls-ca-file and --tls-cert" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        command.main(["demo", "--scheduler", "tls://127.0.0.1:8786", "--tls-ca-file", str(tmp_path / "none.pem"),
                      "--tls-cert", str(tmp_path / "none.pem")])
    assert "cannot use the TLS files" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        command.main(["demo", "--tls-cert", "client.pem"])
    assert "go with --scheduler" in capsys.readouterr().err

    # the library refuses too, before it reads or writes anything
    with pytest.raises(engine.SchedulerNotSecure, match="refusing the tcp:// scheduler"):
        engine.grade_class(tmp_path, {"demo": ["someone"]}, scheduler="tcp://127.0.0.1:8786",
                           db_url=f"sqlite:///{tmp_path / 'gradebook.db'}")
    with pytest.raises(engine.SchedulerNotSecure):
        engine.run_tasks([], 2, "dask", scheduler="tcp://127.0.0.1:8786", on_result=print)
    assert not list(tmp_path.iterdir())

    calls = []
    monkeypatch.setattr(command, "autograde", lambda *args, **kwargs: calls.append(kwargs))
    assert command.main(["demo", "--scheduler", "tcp://127.0.0.1:8786", "--insecure"]) == 0
    assert calls[-1]["insecure"] is True and calls[-1]["scheduler"] == "tcp://127.0.0.1:8786"


# --- an external cluster, started as the recipes say ---------------------------------------

RECIPE = """
openssl req -x509 -newkey rsa:3072 -nodes -days 365 -subj "/CN=dlcourse grading CA" \
    -keyout ca-key.pem -out ca.pem
for role in scheduler worker client; do
  openssl req -newkey rsa:3072 -nodes -subj "/CN=dlcourse-$role" -keyout $role-key.pem -out $role.csr
  openssl x509 -req -in $role.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 -out $role.pem
done
"""


def _make_certificates(folder: Path) -> None:
    """The recipe's CA and scheduler/worker/client certificates (openssl; else ``cryptography``)."""
    if shutil.which("openssl"):
        subprocess.run(["bash", "-ec", "umask 077\n" + RECIPE], cwd=folder, check=True, capture_output=True)
        return
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    def write(name, key, cert):
        (folder / f"{name}-key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dlcourse grading CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for role in ("scheduler", "worker", "client"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"dlcourse-{role}")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
                .sign(ca_key, hashes.SHA256()))
        write(role, key, cert)


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process started here with its own session, and its children."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker's spawned process, if it outlived it
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def tls_class(tmp_path_factory):
    """The demo course (four sample submissions) and an external TLS cluster on 127.0.0.1:
    ``dask scheduler`` and one ``dask worker`` with the recipe's files."""
    from .demo_course import sampled_demo_course

    root, _ = sampled_demo_course(tmp_path_factory.mktemp("tls-course"), cell_timeout=30)
    tls = Path(tempfile.mkdtemp(prefix="dlcourse-tls-"))  # 0700
    _make_certificates(tls)
    port = free_port()
    bindir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    scheduler = subprocess.Popen(
        [str(bindir / "dask"), "scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", str(port),
         "--dashboard-address", "127.0.0.1:0",
         "--tls-ca-file", str(tls / "ca.pem"), "--tls-cert", str(tls / "scheduler.pem"),
         "--tls-key", str(tls / "scheduler-key.pem")],
        cwd=root, env=dict(env, PYTHONPATH=str(root)),  # the scheduler unpickles the tasks: course/ importable
        stdout=subprocess.DEVNULL, stderr=open(tls / "scheduler.log", "w"), start_new_session=True)
    worker = subprocess.Popen(
        [str(bindir / "dask"), "worker", f"tls://127.0.0.1:{port}", "--nworkers", "1", "--nthreads", "1",
         "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(tls / "scratch"),
         "--tls-ca-file", str(tls / "ca.pem"), "--tls-cert", str(tls / "worker.pem"),
         "--tls-key", str(tls / "worker-key.pem")],
        cwd=root, env=dict(env, PYTHONPATH=str(root)), stdout=subprocess.DEVNULL,
        stderr=open(tls / "worker.log", "w"), start_new_session=True)
    address = f"tls://127.0.0.1:{port}"
    try:
        security = engine.scheduler_security(address, tls_ca_file=str(tls / "ca.pem"),
                                             tls_cert=str(tls / "client.pem"), tls_key=str(tls / "client-key.pem"))
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:  # the scheduler up, the worker registered
            try:
                with Client(address, security=security, timeout=5) as client:
                    if client.scheduler_info()["workers"]:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, ((tls / "scheduler.log").read_text()[-2000:]
                                                 + (tls / "worker.log").read_text()[-2000:])
            time.sleep(0.5)
        yield root, address, tls
    finally:
        _stop(worker)
        _stop(scheduler)
        shutil.rmtree(tls, ignore_errors=True)


def test_external_tls_cluster_grades_with_the_files(tls_class):
    """With a TLS scheduler and worker started by their command lines, does ``python -m course
    autograde --scheduler tls://... --tls-ca-file --tls-cert --tls-key`` grade the class (the
    known points), while the same command without the files, or a client with a certificate
    of another CA, is refused?"""
    from distributed import Client, Security

    from course.feedback import grades

    root, address, tls = tls_class
    with pytest.raises((OSError, TimeoutError)):
        Client(address, security=Security.temporary(), timeout=5)
    base = [sys.executable, "-m", "course", "autograde", "demo", "--scheduler", address]
    refused = subprocess.run(base, cwd=root, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "needs --tls-ca-file and --tls-cert" in refused.stderr
    proc = subprocess.run(base + ["--tls-ca-file", str(tls / "ca.pem"), "--tls-cert", str(tls / "client.pem"),
                                  "--tls-key", str(tls / "client-key.pem"), "--force"],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"Dask at {address}" in proc.stdout
    assert "demo: 4 graded, 0 failed" in proc.stdout, proc.stdout[-4000:]
    points = {r["student"]: r["auto_score"] for r in grades(root)}
    assert points == {"reference": 6, "untouched": 0, "partial": 5, "stripped": 6}
