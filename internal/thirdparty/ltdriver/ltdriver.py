#!/usr/bin/python3
"""Drive one libtorrent session for the Go test harness (internal/thirdparty).

Usage: ltdriver.py CONFIG.json

The config (written by thirdparty.StartLibtorrent) names one torrent to add, by
.torrent file or magnet URI, and the session settings. The driver prints one JSON
object per line on stdout (events) and reads one JSON object per line on stdin
(commands). Logs and alerts go to stderr. When stdin closes the driver exits, so a
dead test process never leaves a session running.

Events:   {"event":"ready","port":P}  {"event":"metadata"}  {"event":"checked"}
          {"event":"finished"}  {"event":"seeding"}  {"event":"piece","index":I}
          {"event":"tracker_reply","url":U,"peers":N}  {"event":"error","msg":...}
          {"event":"reply","id":N,...}  {"event":"exit"}
Commands: {"id":N,"cmd":"status"}  {"id":N,"cmd":"connect","addr":"HOST:PORT"}
          {"id":N,"cmd":"add_dht_node","addr":"HOST:PORT"}  {"id":N,"cmd":"force_dht_announce"}
          {"id":N,"cmd":"sample_infohashes","addr":"HOST:PORT","target":"40 hex digits"}
          {"id":N,"cmd":"stop"}
"""

import json
import os
import queue
import sys
import threading
import time

import libtorrent as lt

# peer_info::utp_socket (bit 17 of peer_flags_t in libtorrent 2.0); the Python
# bindings do not export it.
UTP_SOCKET = 1 << 17

OUT_LOCK = threading.Lock()


def emit(obj):
    line = json.dumps(obj, separators=(",", ":"))
    with OUT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def log(msg):
    sys.stderr.write("%.3f %s\n" % (time.monotonic(), msg))
    sys.stderr.flush()


def split_addr(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def session_settings(cfg):
    tcp = cfg.get("tcp", True)
    utp = cfg.get("utp", True)
    dht = cfg.get("dht") or {}
    s = {
        "listen_interfaces": cfg["listen"],
        # Dial from the listen address too, so each session is one 127.0.0.x
        # to its peers (Transmission drops a second connection from an address).
        "outgoing_interfaces": split_addr(cfg["listen"])[0],
        # Nothing may leave the machine: no DHT bootstrap, no LSD, no port mapping.
        "enable_dht": bool(dht.get("enable")),
        "dht_bootstrap_nodes": "",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Every peer in these tests is 127.0.0.x.
        "allow_multiple_connections_per_ip": True,
        # 2 = pe_disabled: keep the wire plain so tshark and our decoder can read it.
        "in_enc_policy": 2,
        "out_enc_policy": 2,
        "enable_outgoing_tcp": tcp,
        "enable_incoming_tcp": tcp,
        "enable_outgoing_utp": utp,
        "enable_incoming_utp": utp,
        # Loopback peers are "local"; do not let libtorrent's SSRF and privileged
        # port rules drop them.
        "ssrf_mitigation": False,
        "no_connect_privileged_ports": False,
        "alert_mask": (lt.alert.category_t.error_notification
                       | lt.alert.category_t.status_notification
                       | lt.alert.category_t.storage_notification
                       | lt.alert.category_t.tracker_notification
                       | lt.alert.category_t.connect_notification
                       | lt.alert.category_t.peer_notification
                       | lt.alert.category_t.dht_notification),
    }
    if dht.get("enable"):
        # dht_sample_infohashes_alert (BEP 51) is a dht_operation alert.
        s["alert_mask"] |= lt.alert.category_t.dht_operation_notification
        # On loopback every node shares 127.0.0.0/8; libtorrent would otherwise keep
        # only one node per /24 in its routing table and in searches.
        s["dht_restrict_routing_ips"] = False
        s["dht_restrict_search_ips"] = False
        s["dht_enforce_node_id"] = False
        s["dht_prefer_verified_node_ids"] = False
        s["dht_ignore_dark_internet"] = False
    if cfg.get("piece_stats"):
        s["alert_mask"] |= lt.alert.category_t.piece_progress_notification
    buf = cfg.get("socket_buffers", 0)
    if buf:
        s["send_socket_buffer_size"] = buf
        s["recv_socket_buffer_size"] = buf
    for k, v in (cfg.get("settings") or {}).items():
        s[k] = v
    return s


def add_params(cfg):
    if cfg.get("magnet"):
        atp = lt.parse_magnet_uri(cfg["magnet"])
    else:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(cfg["torrent"])
    atp.save_path = cfg["save_path"]
    if cfg.get("trackers"):
        # The bindings return a copy of the list: appending to it does nothing.
        atp.trackers = list(atp.trackers) + list(cfg["trackers"])
    flags = atp.flags
    # Not auto-managed: the session must not pause or queue the torrent on its own.
    flags &= ~lt.torrent_flags.auto_managed
    flags &= ~lt.torrent_flags.paused
    if not (cfg.get("dht") or {}).get("enable"):
        flags |= lt.torrent_flags.disable_dht
    flags |= lt.torrent_flags.disable_lsd
    if not cfg.get("pex"):
        flags |= lt.torrent_flags.disable_pex
    atp.flags = flags
    return atp


def peer_list(h):
    out = []
    for p in h.get_peer_info():
        f = int(p.flags)
        out.append({
            "addr": "%s:%d" % (p.ip[0], p.ip[1]),
            "client": p.client if isinstance(p.client, str) else p.client.decode("utf-8", "replace"),
            "utp": bool(f & UTP_SOCKET),
            # MSE/PE: the payload stream is RC4, or the handshake was MSE with plaintext chosen.
            "rc4": bool(f & int(lt.peer_info.rc4_encrypted)),
            "mse_plaintext": bool(f & int(lt.peer_info.plaintext_encrypted)),
            "we_choke": bool(f & int(lt.peer_info.choked)),
            "we_interested": bool(f & int(lt.peer_info.interesting)),
            "they_choke": bool(f & int(lt.peer_info.remote_choked)),
            "they_interested": bool(f & int(lt.peer_info.remote_interested)),
            "seed": bool(f & int(lt.peer_info.seed)),
            "up_rate": p.payload_up_speed,
            "down_rate": p.payload_down_speed,
            "total_up": p.total_upload,
            "total_down": p.total_download,
        })
    return out


def status(ses, h):
    st = h.status()
    t = os.times()
    return {
        "state": str(st.state),
        "progress": st.progress,
        "num_pieces": st.num_pieces,
        "is_seeding": st.is_seeding,
        "is_finished": st.is_finished,
        "has_metadata": st.has_metadata,
        "num_peers": st.num_peers,
        "up_rate": st.upload_payload_rate,
        "down_rate": st.download_payload_rate,
        # Since the torrent was added to this session (all_time_* lag behind).
        "total_payload_up": st.total_payload_upload,
        "total_payload_down": st.total_payload_download,
        "total_wanted_done": st.total_wanted_done,
        "total_wanted": st.total_wanted,
        "peers": peer_list(h),
        "cpu_seconds": t.user + t.system,
        "error": str(st.errc.message()) if st.errc.value() else "",
    }


def read_commands(q):
    for line in sys.stdin:
        line = line.strip()
        if line:
            q.put(line)
    q.put(None)  # stdin closed: the Go side is gone or wants us to stop.


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    ses = lt.session(session_settings(cfg))
    if cfg.get("choke_local"):
        # libtorrent puts 127.0.0.0/8 in its "local" peer class, which ignores
        # unchoke slots: such peers are never choked. Make them count.
        pc = ses.get_peer_class(lt.session.local_peer_class_id)
        pc["ignore_unchoke_slots"] = False
        ses.set_peer_class(lt.session.local_peer_class_id, pc)
    for node in (cfg.get("dht") or {}).get("nodes") or []:
        ses.add_dht_node(split_addr(node))

    h = ses.add_torrent(add_params(cfg))
    port = 0
    deadline = time.monotonic() + 10
    while port == 0 and time.monotonic() < deadline:
        port = ses.listen_port()
        if port == 0:
            time.sleep(0.01)
    if port == 0:
        for a in ses.pop_alerts():
            log("%s: %s" % (type(a).__name__, a.message()))
            if type(a).__name__ == "listen_failed_alert":
                emit({"event": "error", "msg": a.message()})
    emit({"event": "ready", "port": port})

    q = queue.Queue()
    threading.Thread(target=read_commands, args=(q,), daemon=True).start()
    for addr in cfg.get("peers") or []:
        h.connect_peer(split_addr(addr))

    sent = set()
    stopping = False
    while not stopping:
        while True:
            try:
                line = q.get_nowait()
            except queue.Empty:
                break
            if line is None:
                stopping = True
                break
            try:
                cmd = json.loads(line)
                rid = cmd.get("id", 0)
                name = cmd.get("cmd")
                if name == "status":
                    r = status(ses, h)
                elif name == "connect":
                    h.connect_peer(split_addr(cmd["addr"]))
                    r = {}
                elif name == "add_dht_node":
                    ses.add_dht_node(split_addr(cmd["addr"]))
                    r = {}
                elif name == "force_dht_announce":
                    h.force_dht_announce()
                    r = {}
                elif name == "sample_infohashes":
                    # BEP 51: the reply comes as a dht_sample_infohashes_alert (event dht_samples).
                    ses.dht_sample_infohashes(split_addr(cmd["addr"]), lt.sha1_hash(bytes.fromhex(cmd["target"])))
                    r = {}
                elif name == "stop":
                    stopping = True
                    r = {}
                else:
                    r = {"err": "unknown command %r" % name}
            except Exception as e:  # a bad command must not kill the session
                rid, r = 0, {"err": repr(e)}
            r.update({"event": "reply", "id": rid})
            emit(r)

        ses.wait_for_alert(50)
        for a in ses.pop_alerts():
            t = type(a).__name__
            if t == "piece_finished_alert" and cfg.get("piece_stats"):
                emit({"event": "piece", "index": a.piece_index})
                continue
            log("%s: %s" % (t, a.message()))
            if t in ("torrent_error_alert", "file_error_alert", "listen_failed_alert",
                     "metadata_failed_alert"):
                emit({"event": "error", "msg": "%s: %s" % (t, a.message())})
            elif t == "dht_sample_infohashes_alert":
                iv = a.interval
                emit({"event": "dht_samples", "num": a.num_infohashes,
                      "interval": int(iv.total_seconds()) if hasattr(iv, "total_seconds") else int(iv),
                      "samples": [str(x) for x in a.samples]})
            elif t == "tracker_reply_alert":
                emit({"event": "tracker_reply", "url": a.tracker_url(), "peers": a.num_peers})
            elif t == "metadata_received_alert" and "metadata" not in sent:
                sent.add("metadata")
                emit({"event": "metadata"})
            elif t == "torrent_checked_alert" and "checked" not in sent:
                sent.add("checked")
                emit({"event": "checked"})
                if cfg.get("seed") and not h.status().is_seeding:
                    emit({"event": "error",
                          "msg": "seed: data in %s does not match the torrent (progress %.3f)"
                          % (cfg["save_path"], h.status().progress)})

        st = h.status()
        if st.is_finished and "finished" not in sent:
            sent.add("finished")
            emit({"event": "finished"})
        if st.is_seeding and "seeding" not in sent:
            sent.add("seeding")
            emit({"event": "seeding"})

    # Graceful stop: remove the torrent so trackers get event=stopped, then wait a
    # bounded time for the session to finish.
    ses.remove_torrent(h)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if ses.wait_for_alert(100) is not None:
            if any(type(a).__name__ == "torrent_removed_alert" for a in ses.pop_alerts()):
                break
    emit({"event": "exit"})


if __name__ == "__main__":
    main()
