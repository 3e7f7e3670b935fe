"""systemd units for the edge-host kind: one service per slot (Podman, image by digest) and a front.

- Podman >= 4.4 reads a Quadlet ``.container`` file (Ubuntu 24.04 ships 4.9); its generator turns it into
  ``edgetrain-<target>-<slot>.service``. Older Podman (Ubuntu 22.04 ships 3.4) gets a plain unit running
  ``podman run``. Both: the image by digest, the container as the image's non-root user (uid 10001) with a
  read-only root, no capabilities and no new privileges, memory/CPU/task limits, the image's HEALTHCHECK
  (a failing check kills the container where Podman can, so ``Restart=on-failure`` restarts it), and the
  slot's port on 127.0.0.1 only.
- The front owns the public port: a socket unit listening on ``port`` and ``systemd-socket-proxyd``
  forwarding to the live slot. Switching traffic rewrites the front's target port and restarts the proxy;
  the socket keeps listening, so new connections wait instead of being refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgetrain.config.deploy import DeployTarget
from edgetrain.serving.dockerfile import USER_ID

CONTAINER_PORT = 5001
PODMAN = "/usr/bin/podman"
SOCKET_PROXYD = "/lib/systemd/systemd-socket-proxyd"
QUADLET_SINCE = (4, 4)
HEALTH_ON_FAILURE_SINCE = (4, 3)  # podman run --health-on-failure
QUADLET_HEALTH_SINCE = (4, 5)  # Quadlet's HealthOnFailure= key
_DIGEST_REF = re.compile(r"^[A-Za-z0-9.\-\[\]:]+(?::\d+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$")


def podman_version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def uses_quadlet(target: DeployTarget) -> bool:
    return podman_version(target.podman_version) >= QUADLET_SINCE


@dataclass(frozen=True)
class UnitFile:
    name: str
    text: str


def slot_service(target: DeployTarget, slot: str) -> str:
    return f"edgetrain-{target.name}-{slot}.service"


def front_names(target: DeployTarget) -> tuple[str, str]:
    return f"edgetrain-{target.name}-front.socket", f"edgetrain-{target.name}-front.service"


def slot_port(target: DeployTarget, slot: str) -> int:
    return target.slot_ports[0 if slot == "blue" else 1]


def check_reference(image: str) -> None:
    if not _DIGEST_REF.match(image):
        raise ValueError(f"{image!r}: expected registry/repository@sha256:<64 hex> (an image by digest)")


def _environment(slot: str, version: str) -> list[str]:
    return [f"PORT={CONTAINER_PORT}", f"EDGETRAIN_DEPLOY_SLOT={slot}", f"EDGETRAIN_DEPLOY_VERSION={version}"]


def slot_unit(target: DeployTarget, slot: str, image: str, version: str) -> UnitFile:
    """The slot's unit: a Quadlet ``.container`` or a plain ``.service`` by the host's Podman version."""
    check_reference(image)
    return (
        _quadlet(target, slot, image, version)
        if uses_quadlet(target)
        else _plain(target, slot, image, version)
    )


def _header(target: DeployTarget, slot: str, version: str) -> list[str]:
    return [
        "[Unit]",
        f"Description=edgetrain scoring: target {target.name}, slot {slot}, model version {version}",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
    ]


def _plain(target: DeployTarget, slot: str, image: str, version: str) -> UnitFile:
    name = f"edgetrain-{target.name}-{slot}"
    args = [
        f"--name={name}", "--replace", "--rm", "--detach", "--cidfile=%t/%N.cid",
        "--cgroups=no-conmon", "--sdnotify=conmon", "--pull=missing",
        f"--user={USER_ID}:{USER_ID}", "--read-only", "--cap-drop=all", "--security-opt=no-new-privileges",
        f"--memory={target.memory}", f"--cpus={target.cpus:g}", "--pids-limit=256",
        f"--publish=127.0.0.1:{slot_port(target, slot)}:{CONTAINER_PORT}",
        *(f"--env={item}" for item in _environment(slot, version)),
    ]  # fmt: skip
    if podman_version(target.podman_version) >= HEALTH_ON_FAILURE_SINCE:
        args.append("--health-on-failure=kill")
    run = " \\\n    ".join([f"{PODMAN} run", *args, image])
    lines = [
        *_header(target, slot, version),
        "[Service]",
        "Environment=PODMAN_SYSTEMD_UNIT=%n",
        "Type=notify",
        "NotifyAccess=all",
        "Restart=on-failure",
        "RestartSec=5",
        "TimeoutStartSec=300",
        "TimeoutStopSec=40",
        f"ExecStart={run}",
        f"ExecStop={PODMAN} stop --ignore --time=20 --cidfile=%t/%N.cid",
        f"ExecStopPost={PODMAN} rm --force --ignore --cidfile=%t/%N.cid",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return UnitFile(f"{name}.service", "\n".join(lines))


def _quadlet(target: DeployTarget, slot: str, image: str, version: str) -> UnitFile:
    name = f"edgetrain-{target.name}-{slot}"
    container = [
        "[Container]",
        f"ContainerName={name}",
        f"Image={image}",
        f"User={USER_ID}",
        f"Group={USER_ID}",
        "ReadOnly=true",
        "DropCapability=all",
        "NoNewPrivileges=true",
        f"PublishPort=127.0.0.1:{slot_port(target, slot)}:{CONTAINER_PORT}",
        *(f"Environment={item}" for item in _environment(slot, version)),
    ]
    if podman_version(target.podman_version) >= QUADLET_HEALTH_SINCE:
        container.append("HealthOnFailure=kill")
    lines = [
        *_header(target, slot, version),
        *container,
        "",
        "[Service]",
        # Quadlet runs the container with --cgroups=split: it lives in this unit's cgroup, so these bind it.
        f"MemoryMax={target.memory.upper() if target.memory[-1].isalpha() else target.memory}",
        f"CPUQuota={round(target.cpus * 100)}%",
        "TasksMax=256",
        "Restart=on-failure",
        "RestartSec=5",
        "TimeoutStartSec=300",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return UnitFile(f"{name}.container", "\n".join(lines))


def front_units(target: DeployTarget, live_slot: str) -> tuple[UnitFile, UnitFile]:
    """The socket on the public port and the proxy to ``live_slot``'s loopback port."""
    socket_name, service_name = front_names(target)
    socket = [
        "[Unit]",
        f"Description=edgetrain scoring: target {target.name}, public port",
        "",
        "[Socket]",
        f"ListenStream={target.port}",
        "NoDelay=true",
        "",
        "[Install]",
        "WantedBy=sockets.target",
        "",
    ]
    service = [
        "[Unit]",
        f"Description=edgetrain scoring: target {target.name}, front to slot {live_slot}",
        f"Requires={socket_name}",
        f"After={socket_name} {slot_service(target, live_slot)}",
        "",
        "[Service]",
        f"ExecStart={SOCKET_PROXYD} 127.0.0.1:{slot_port(target, live_slot)}",
        "DynamicUser=yes",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "",
    ]
    return UnitFile(socket_name, "\n".join(socket)), UnitFile(service_name, "\n".join(service))
