#!/usr/bin/env python3
"""A fake Kubernetes node for Terrace's tests: a kubelet without containers.

It registers a Ready node with the API server and, for each pod the scheduler binds to it,
*executes* the pod's container command as a local process: the same command and args, and the
same environment (plain values, and values from Secrets, read through the API like a kubelet
does), on top of an "image" environment given on the command line (PATH, HOME). It reports the
pod's status back (Running, then Succeeded/Failed with the exit code), serves the container's
output as its log (`/containerLogs`, which the API server proxies for `kubectl logs` and
`follow`), and honours graceful deletion (SIGTERM, SIGKILL after the grace period, then the
final delete). Images named `missing.invalid/...` cannot be pulled (ErrImagePull, then
ImagePullBackOff), for tests of that.

Like a kubelet it honours the pod's identity: a container with `runAsNonRoot` and no non-zero
`runAsUser` does not start (CreateContainerConfigError), and, when the fake node runs as root,
the process runs as `runAsUser`/`runAsGroup` with `fsGroup` as a supplementary group.
`emptyDir` volumes are fresh directories (mode 0777, group `fsGroup`, removed when the pod
ends); as there is no mount namespace, an environment value or `workingDir` naming a mount path
(or a path under it) is rewritten to the volume's directory. The working directory is
`workingDir`, else `/`, as in a container. Nothing makes the root filesystem read-only here.

`secret` and `configMap` volumes (the ServiceAccount token Secret that Kubernetes 1.20 mounts
at /var/run/secrets/kubernetes.io/serviceaccount among them) are directories of their files,
read through the API (mode `defaultMode`, group `fsGroup`). When a container mounts one and the
fake node runs as root, the container runs in a private mount and UTS namespace (`unshare`)
where each such volume is bind-mounted at its mount path (read-only if asked; missing mount
points are created, and removed when the pod ends) and the hostname is the pod's name, so a
program that reads a fixed path, like a client's in-cluster configuration, finds it. Every
container gets KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT naming the API server
(`--api`), as a kubelet gives the `kubernetes` Service.

Only the standard library: usage
  fake_node.py --api https://127.0.0.1:PORT --ca CA --cert CERT --key KEY \
      --serving-cert CERT --serving-key KEY --port PORT --work-dir DIR \
      [--name fake-node-1] [--path PATH] [--home HOME]
(`fake_node.py --enter SPEC -- ARGV...` is its own helper inside a pod's namespaces.)
"""
import argparse
import base64
import datetime
import http.client
import http.server
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse


def enter(spec, argv):
    """Inside the pod's new mount and UTS namespaces (as root): bind its volumes at their mount
    paths, name the host after the pod, become the pod's user, and exec the container."""
    import socket
    socket.sethostname(spec["hostname"])
    for source, target, read_only in spec["mounts"]:
        subprocess.run(["mount", "--bind", source, target], check=True)
        if read_only:
            subprocess.run(["mount", "-o", "remount,bind,ro", target], check=True)
    if spec.get("groups") is not None:
        os.setgroups(spec["groups"])
    if spec.get("gid") is not None:
        os.setgid(spec["gid"])
    if spec.get("uid") is not None:
        os.setuid(spec["uid"])
    os.chdir(spec["cwd"])
    os.execvp(argv[0], argv)


if len(sys.argv) > 2 and sys.argv[1] == "--enter":
    enter(json.loads(sys.argv[2]), sys.argv[sys.argv.index("--") + 1:])

ap = argparse.ArgumentParser()
ap.add_argument("--api", required=True)
ap.add_argument("--ca", required=True)
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--serving-cert", required=True)
ap.add_argument("--serving-key", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--work-dir", required=True)
ap.add_argument("--name", default="fake-node-1")
ap.add_argument("--path", default=os.environ.get("PATH", "/usr/bin:/bin"))
ap.add_argument("--home", default=os.environ.get("HOME", "/root"))
args = ap.parse_args()

API = urllib.parse.urlparse(args.api)
NODE = args.name
CTX = ssl.create_default_context(cafile=args.ca)
CTX.load_cert_chain(args.cert, args.key)
os.makedirs(args.work_dir, exist_ok=True)
# emptyDir volumes live outside the work dir, which may not be reachable by a pod's user.
VOLUMES = tempfile.mkdtemp(prefix="terrace-fake-node-")
os.chmod(VOLUMES, 0o711)
UNSHARE = shutil.which("unshare")
# Mount points the node made for pods' volumes (path -> pods using it), removed when unused.
MOUNT_POINTS = {}


def log(msg):
    print(f"{datetime.datetime.now().strftime('%H:%M:%S.%f')[:-3]} fake-node: {msg}", flush=True)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(f"{status}: {body[:300]}")
        self.status = status


def request(method, path, body=None, content_type="application/json", timeout=30):
    conn = http.client.HTTPSConnection(API.hostname, API.port, context=CTX, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode()
        if resp.status >= 300:
            raise ApiError(resp.status, text)
        return json.loads(text) if text else None
    finally:
        conn.close()


def patch_status(kind_path, status):
    return request("PATCH", kind_path + "/status", {"status": status},
                   content_type="application/strategic-merge-patch+json")


# --- the node ---------------------------------------------------------------------------------

def register():
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux",
                                                   "terrace.test/fake-node": "true"}},
            "spec": {}}
    try:
        request("POST", "/api/v1/nodes", node)
    except ApiError as e:
        if e.status != 409:
            raise


def node_status():
    t = now()
    patch_status(f"/api/v1/nodes/{NODE}", {
        "conditions": [{"type": "Ready", "status": "True", "reason": "FakeNodeReady",
                        "message": "fake node for tests", "lastHeartbeatTime": t, "lastTransitionTime": t}],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": args.port}},
        "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
        "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
        "nodeInfo": {"kubeletVersion": "v1.20.2-fake", "architecture": "amd64", "operatingSystem": "linux",
                     "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "", "osImage": "",
                     "containerRuntimeVersion": "fake://0", "kubeProxyVersion": ""},
    })


def heartbeat():
    while True:
        time.sleep(10)
        try:
            node_status()
        except Exception as e:  # noqa: BLE001 - keep beating
            log(f"node status: {e}")


# --- pods -------------------------------------------------------------------------------------

LOCK = threading.Lock()
PODS = {}  # uid -> PodRun


def log_path(ns, name, container):
    return os.path.join(args.work_dir, f"{ns}_{name}_{container}.log")


class PodRun:
    def __init__(self, pod):
        self.pod = pod
        self.ns = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.proc = None
        self.done = threading.Event()
        self.deleting = False
        self.started_at = now()
        self.volumes = None  # the pod's emptyDir directories, once made

    @property
    def path(self):
        return f"/api/v1/namespaces/{self.ns}/pods/{self.name}"

    def status(self, phase, container_state, ready=False, reason=None, message=None):
        c = self.pod["spec"]["containers"][0]
        cond = lambda t, s: {"type": t, "status": "True" if s else "False", "lastTransitionTime": now()}
        st = {"phase": phase, "hostIP": "127.0.0.1", "podIP": "127.0.0.1", "startTime": self.started_at,
              "conditions": [cond("Initialized", True), cond("Ready", ready), cond("ContainersReady", ready),
                             cond("PodScheduled", True)],
              "containerStatuses": [{"name": c["name"], "image": c.get("image", ""), "imageID": "",
                                     "containerID": f"fake://{self.uid}", "ready": ready, "restartCount": 0,
                                     "started": ready, "state": container_state}]}
        if reason:
            st["reason"] = reason
        if message:
            st["message"] = message
        try:
            patch_status(self.path, st)
        except ApiError as e:
            log(f"{self.ns}/{self.name}: status {phase}: {e}")

    def waiting(self, reason, message):
        self.status("Pending", {"waiting": {"reason": reason, "message": message}})

    def image_env(self):
        """What the fake "image" sets: the node's PATH and HOME, which no volume maps."""
        return {"PATH": args.path, "HOME": args.home, "HOSTNAME": self.name}

    def kubelet_env(self):
        """What a kubelet adds to every container: the `kubernetes` Service's address."""
        return {"KUBERNETES_SERVICE_HOST": API.hostname, "KUBERNETES_SERVICE_PORT": str(API.port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(API.port)}

    def resolve_env(self, container):
        """The container's environment, secrets read through the API (None: not yet)."""
        env = {**self.image_env(), **self.kubelet_env()}
        secrets = {}
        for var in container.get("env") or []:
            if "value" in var:
                env[var["name"]] = var["value"]
            elif "valueFrom" in var and "secretKeyRef" in var["valueFrom"]:
                ref = var["valueFrom"]["secretKeyRef"]
                if ref["name"] not in secrets:
                    try:
                        secrets[ref["name"]] = request("GET", f"/api/v1/namespaces/{self.ns}/secrets/{ref['name']}")
                    except ApiError as e:
                        if e.status == 404:
                            return None, f"secret \"{ref['name']}\" not found"
                        raise
                data = secrets[ref["name"]].get("data") or {}
                if ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    return None, f"couldn't find key {ref['key']} in Secret {self.ns}/{ref['name']}"
                env[var["name"]] = base64.b64decode(data[ref["key"]]).decode()
            elif "value" not in var and "valueFrom" not in var:
                env[var["name"]] = ""
            else:
                return None, f"unsupported env source for {var['name']} (fake node)"
        return env, None

    def identity(self, container):
        """(uid, gid, fsGroup) the container runs with, or an error as a kubelet gives it."""
        pod_sc = self.pod["spec"].get("securityContext") or {}
        sc = container.get("securityContext") or {}
        pick = lambda key: sc.get(key, pod_sc.get(key))
        uid, gid = pick("runAsUser"), pick("runAsGroup")
        if pick("runAsNonRoot") and not uid:
            # The fake node's "images" have no USER: they would run as root.
            return None, "container has runAsNonRoot and image will run as root"
        return (uid, gid, pod_sc.get("fsGroup")), None

    def volume_files(self, volume):
        """The files of a secret or configMap volume {path: bytes} (None: not there yet)."""
        if "secret" in volume:
            source, kind = volume["secret"], "secrets"
            name = source["secretName"]
        else:
            source, kind = volume["configMap"], "configmaps"
            name = source["name"]
        try:
            obj = request("GET", f"/api/v1/namespaces/{self.ns}/{kind}/{name}")
        except ApiError as e:
            if e.status == 404 and not source.get("optional"):
                return None, f"{kind[:-1]} \"{name}\" not found"
            if e.status == 404:
                return {}, None
            raise
        if kind == "secrets":
            data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        else:
            data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        items = source.get("items")
        if not items:
            return data, None
        files = {}
        for item in items:
            if item["key"] not in data:
                return None, f"couldn't find key {item['key']} in {kind[:-1]} {self.ns}/{name}"
            files[item["path"]] = data[item["key"]]
        return files, None

    def make_volumes(self, fs_group):
        """A directory per emptyDir volume, as a kubelet makes them (mode 0777, fsGroup's), and
        per secret or configMap volume with its files (None: a source is not there yet)."""
        self.volumes = {}
        root = os.path.join(VOLUMES, self.uid)
        os.makedirs(root, mode=0o711, exist_ok=True)
        for volume in self.pod["spec"].get("volumes") or []:
            path = os.path.join(root, volume["name"])
            if "emptyDir" in volume:
                os.makedirs(path, exist_ok=True)
                os.chmod(path, 0o777)
                if fs_group is not None and os.geteuid() == 0:
                    os.chown(path, 0, fs_group)
                    os.chmod(path, 0o2777)
            elif "secret" in volume or "configMap" in volume:
                files, problem = self.volume_files(volume)
                if files is None:
                    return problem
                source = volume.get("secret") or volume.get("configMap")
                os.makedirs(path, mode=0o755, exist_ok=True)
                for name, content in files.items():
                    file = os.path.join(path, name)
                    os.makedirs(os.path.dirname(file), mode=0o755, exist_ok=True)
                    with open(file, "wb") as f:
                        f.write(content)
                    os.chmod(file, source.get("defaultMode", 0o644))
                    if fs_group is not None and os.geteuid() == 0:
                        os.chown(file, 0, fs_group)
            else:
                continue
            self.volumes[volume["name"]] = path
        return None

    def bind_mounts(self, container):
        """The container's mounts of secret and configMap volumes: [(dir, mountPath, ro)]."""
        kinds = {v["name"]: v for v in self.pod["spec"].get("volumes") or []}
        return [(self.volumes[m["name"]], m["mountPath"], bool(m.get("readOnly")))
                for m in container.get("volumeMounts") or []
                if m["name"] in (self.volumes or {}) and "emptyDir" not in kinds.get(m["name"], {})]

    def make_mount_points(self, mounts):
        """Missing mount point directories, made on the node, to remove when the pod ends."""
        self.mount_points = []
        with LOCK:
            for _, target, _ in mounts:
                missing = []
                path = target.rstrip("/")
                while path and not os.path.lexists(path):
                    missing.append(path)
                    path = os.path.dirname(path)
                for path in reversed(missing):
                    os.mkdir(path, 0o755)
                    MOUNT_POINTS[path] = 0
                # Every node-made directory on the way counts this pod.
                path = target.rstrip("/")
                while path in MOUNT_POINTS:
                    MOUNT_POINTS[path] += 1
                    self.mount_points.append(path)
                    path = os.path.dirname(path)

    def remove_mount_points(self):
        with LOCK:
            for path in sorted(getattr(self, "mount_points", []), key=len, reverse=True):
                MOUNT_POINTS[path] -= 1
                if MOUNT_POINTS[path] == 0:
                    del MOUNT_POINTS[path]
                    try:
                        os.rmdir(path)
                    except OSError as e:
                        log(f"{self.ns}/{self.name}: mount point {path}: {e}")
            self.mount_points = []

    def mounted(self, container, value):
        """`value` with a mount path at its start replaced by the volume's directory."""
        for mount in container.get("volumeMounts") or []:
            host = (self.volumes or {}).get(mount["name"])
            target = mount["mountPath"].rstrip("/")
            if host and (value == target or value.startswith(target + "/")):
                return host + value[len(target):]
        return value

    def remove_volumes(self):
        self.remove_mount_points()
        if self.volumes is not None:
            shutil.rmtree(os.path.join(VOLUMES, self.uid), ignore_errors=True)

    def run(self):
        try:
            self._run()
        except Exception as e:  # noqa: BLE001
            log(f"{self.ns}/{self.name}: {e!r}")
        finally:
            self.remove_volumes()
            self.done.set()
            if self.deleting:
                self.finalize_delete()

    def _run(self):
        container = self.pod["spec"]["containers"][0]
        image = container.get("image", "")
        if image.startswith("missing.invalid/"):
            self.waiting("ErrImagePull", f"rpc error: pulling image \"{image}\": not found")
            time.sleep(1)
            self.waiting("ImagePullBackOff", f"Back-off pulling image \"{image}\"")
            return
        # Like a kubelet: a Secret that is not there yet is retried (CreateContainerConfigError).
        deadline = time.time() + 120
        while True:
            if self.deleting:
                return
            env, problem = self.resolve_env(container)
            if env is not None:
                break
            if time.time() > deadline:
                return
            self.waiting("CreateContainerConfigError", problem)
            time.sleep(0.5)
        argv = (container.get("command") or []) + (container.get("args") or [])
        if not argv:
            self.finish(128, "the fake node needs a command")
            return
        ident, problem = self.identity(container)
        if ident is None:
            self.waiting("CreateContainerConfigError", problem)
            return
        uid, gid, fs_group = ident
        while True:
            if self.deleting:
                return
            problem = self.make_volumes(fs_group)
            if problem is None:
                break
            if time.time() > deadline:
                return
            self.waiting("ContainerCreating", f"MountVolume.SetUp failed: {problem}")
            time.sleep(0.5)
        mounts = self.bind_mounts(container)
        if mounts and (os.geteuid() != 0 or not UNSHARE):
            self.waiting("RunContainerError", "the fake node mounts volumes only as root, with unshare")
            return
        # The pod's own variables may name paths in its volumes; the "image" PATH and HOME are
        # the node's and stay as they are (the binary under test may well live under /tmp).
        image = self.image_env()
        env = {k: v if image.get(k) == v else self.mounted(container, v) for k, v in env.items()}
        user = {}
        if os.geteuid() == 0:
            if uid is not None:
                user["user"] = uid
                user["group"] = gid if gid is not None else 0
            if fs_group is not None:
                user["extra_groups"] = [fs_group]
            who = f"as uid {uid} gid {user.get('group')} groups {user.get('extra_groups')}"
        else:
            who = "as the fake node's own user (not root: cannot switch users)"
        cwd = self.mounted(container, container.get("workingDir") or "/")
        if mounts:
            # In the pod's own mount and UTS namespaces; the helper binds the volumes, then
            # becomes the pod's user (unshare and the helper exec: the pid stays the container's).
            self.make_mount_points(mounts)
            spec = {"hostname": self.name, "mounts": mounts, "cwd": cwd, "uid": user.get("user"),
                    "gid": user.get("group"), "groups": user.get("extra_groups")}
            argv = [UNSHARE, "--mount", "--uts", "--propagation", "private", "--", sys.executable,
                    os.path.abspath(__file__), "--enter", json.dumps(spec), "--"] + argv
            user, cwd = {}, "/"
            who += f", volumes bound at {[m[1] for m in mounts]}"
        out = open(log_path(self.ns, self.name, container["name"]), "ab")
        try:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=cwd, start_new_session=True, **user)
        except OSError as e:
            out.close()
            self.status("Pending", {"waiting": {"reason": "RunContainerError", "message": str(e)}})
            return
        log(f"{self.ns}/{self.name}: started pid {self.proc.pid} {who}: {argv}")
        self.status("Running", {"running": {"startedAt": now()}}, ready=True)
        code = self.proc.wait()
        out.close()
        if code < 0:  # killed by a signal: as a container runtime reports it
            code = 128 - code
        log(f"{self.ns}/{self.name}: exited {code}")
        self.finish(code, None)

    def finish(self, code, message):
        state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                "startedAt": self.started_at, "finishedAt": now(), "containerID": f"fake://{self.uid}"}}
        if message:
            state["terminated"]["message"] = message
        self.status("Succeeded" if code == 0 else "Failed", state)

    def delete_requested(self, grace):
        if self.deleting:
            return
        self.deleting = True
        log(f"{self.ns}/{self.name}: deletion requested (grace {grace} s)")
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

            def killer():
                if not self.done.wait(grace):
                    log(f"{self.ns}/{self.name}: grace period over: SIGKILL")
                    try:
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            threading.Thread(target=killer, daemon=True).start()
        elif self.done.is_set():
            self.finalize_delete()

    def finalize_delete(self):
        try:
            request("DELETE", self.path, {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                                          "preconditions": {"uid": self.uid}})
            log(f"{self.ns}/{self.name}: deleted")
        except ApiError as e:
            if e.status not in (404, 409):
                log(f"{self.ns}/{self.name}: final delete: {e}")


def on_pod(event_type, pod):
    meta = pod["metadata"]
    uid = meta["uid"]
    with LOCK:
        run = PODS.get(uid)
        if event_type == "DELETED":
            PODS.pop(uid, None)
            return
        if run is None:
            if pod["status"].get("phase") in ("Succeeded", "Failed"):
                if meta.get("deletionTimestamp"):  # a terminal pod of an earlier fake node
                    threading.Thread(target=PodRun(pod).finalize_delete, daemon=True).start()
                return
            run = PodRun(pod)
            PODS[uid] = run
            if not meta.get("deletionTimestamp"):
                threading.Thread(target=run.run, daemon=True).start()
            else:
                run.done.set()
    if meta.get("deletionTimestamp"):
        threading.Thread(target=run.delete_requested, args=(int(meta.get("deletionGracePeriodSeconds") or 0),),
                         daemon=True).start()


def watch_pods():
    selector = urllib.parse.quote(f"spec.nodeName={NODE}")
    while True:
        try:
            lst = request("GET", f"/api/v1/pods?fieldSelector={selector}")
            for pod in lst["items"]:
                on_pod("ADDED", pod)
            rv = lst["metadata"]["resourceVersion"]
            conn = http.client.HTTPSConnection(API.hostname, API.port, context=CTX, timeout=90)
            conn.request("GET", f"/api/v1/pods?watch=1&fieldSelector={selector}&resourceVersion={rv}&timeoutSeconds=60")
            resp = conn.getresponse()
            if resp.status != 200:
                raise ApiError(resp.status, resp.read().decode())
            while True:
                line = resp.readline()
                if not line:
                    break
                ev = json.loads(line)
                if ev["type"] == "ERROR":
                    break
                on_pod(ev["type"], ev["object"])
            conn.close()
        except Exception as e:  # noqa: BLE001 - list and watch again
            log(f"watch: {e!r}")
            time.sleep(1)


# --- logs (/containerLogs/NAMESPACE/POD/CONTAINER), as the API server asks a kubelet ---------

class Logs(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        parts = url.path.strip("/").split("/")
        query = urllib.parse.parse_qs(url.query)
        if len(parts) != 4 or parts[0] != "containerLogs":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        ns, name, container = parts[1:]
        path = log_path(ns, name, container)
        follow = query.get("follow", ["false"])[0] in ("true", "1")
        with LOCK:
            run = next((r for r in PODS.values() if r.ns == ns and r.name == name), None)
        if not os.path.exists(path) and run is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data):
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        try:
            offset = 0
            while True:
                data = b""
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        f.seek(offset)
                        data = f.read()
                if data:
                    offset += len(data)
                    chunk(data)
                if not follow or run is None or (run.done.is_set() and not data):
                    break
                time.sleep(0.2)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *a):
        pass


def serve_logs():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Logs)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.serving_cert, args.serving_key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=serve_logs, daemon=True).start()
    register()
    node_status()
    threading.Thread(target=heartbeat, daemon=True).start()
    log(f"node {NODE} ready (logs on port {args.port})")
    try:
        watch_pods()
    finally:
        with LOCK:
            for run in PODS.values():
                if run.proc and run.proc.poll() is None:
                    try:
                        os.killpg(run.proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            for run in PODS.values():
                if run.proc:
                    try:
                        run.proc.wait(5)
                    except subprocess.TimeoutExpired:
                        pass
        for path in sorted(MOUNT_POINTS, key=len, reverse=True):
            try:
                os.rmdir(path)
            except OSError:
                pass
        shutil.rmtree(VOLUMES, ignore_errors=True)


if __name__ == "__main__":
    main()
