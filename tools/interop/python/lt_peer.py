#!/usr/bin/python3
"""One libtorrent peer on loopback, driven by @mainline/interop.

Prints one JSON object per line on stdout:
  {"type": "listening", "port": N}
  {"type": "status", "state": ..., "progress": 0..1, ...}      every --interval seconds
  {"type": "event", "name": "<alert name>", "message": "..."}  selected alerts
  {"type": "finished"}                                          once, when all pieces are there
  {"type": "error", "message": "..."}                           fatal; the script exits 2
With --watch-stdin, reads JSON commands on stdin, one a line:
  {"cmd": "connect", "host": "127.0.0.1", "port": N}
  {"cmd": "set", "settings": {"name": value, ...}}   settings_pack entries, applied at once
  {"cmd": "quit"}
With --watch-stdin, end of stdin (the parent went away) ends the script too.
"""
import argparse
import json
import os
import sys
import threading
import time

import libtorrent as lt

EVENT_ALERTS = {
    "peer_connect_alert",
    "peer_disconnected_alert",
    "peer_error_alert",
    "peer_ban_alert",
    "peer_snubbed_alert",
    "hash_failed_alert",
    "tracker_reply_alert",
    "tracker_error_alert",
    "tracker_warning_alert",
    "tracker_announce_alert",
    "torrent_error_alert",
    "file_error_alert",
    "listen_failed_alert",
    "incoming_connection_alert",
    "torrent_finished_alert",
    "invalid_request_alert",
    "metadata_received_alert",
}

out_lock = threading.Lock()


def emit(obj):
    line = json.dumps(obj, separators=(",", ":"))
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def parse_peer(text):
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1", int(port))


def limit_local_class(ses):
    """
    Rate limits skip peers on the local network (libtorrent's "local" peer class), which on
    loopback is every peer: give that class the session's limits, however they were set (flags,
    --set, or a "set" command), or they would mean nothing here.
    """
    got = ses.get_settings()
    local = ses.get_peer_class(ses.local_peer_class_id)
    local["upload_limit"] = got["upload_rate_limit"]
    local["download_limit"] = got["download_rate_limit"]
    ses.set_peer_class(ses.local_peer_class_id, local)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["seed", "leech"], required=True)
    ap.add_argument("--torrent")
    ap.add_argument("--magnet", help="start from a magnet link instead of --torrent (metadata by BEP 9)")
    ap.add_argument("--save", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--peer", action="append", default=[])
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--upload-limit", type=int, default=0)
    ap.add_argument("--download-limit", type=int, default=0)
    ap.add_argument("--encryption", choices=["plaintext", "enabled", "forced"], default="plaintext")
    ap.add_argument("--skip-check", action="store_true", help="seed mode without hashing the data")
    ap.add_argument("--no-trackers", action="store_true")
    ap.add_argument("--lsd", action="store_true", help="local service discovery (BEP 14) on")
    ap.add_argument("--dht", action="store_true", help="the DHT on (loopback settings; no public routers)")
    ap.add_argument("--dht-node", action="append", default=[], help="host:port added to the DHT table (pinged first)")
    ap.add_argument("--dht-router", action="append", default=[], help="host:port DHT bootstrap node (never in the table)")
    ap.add_argument("--dht-announce-interval", type=int, default=5, help="seconds between a torrent's DHT announces")
    ap.add_argument("--exit-on-finish", action="store_true")
    ap.add_argument("--watch-stdin", action="store_true", help="take commands on stdin; exit at its end")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=JSON",
                    help="a settings_pack entry, value as JSON (e.g. unchoke_slots_limit=0); repeatable")
    args = ap.parse_args()

    pe = lt.enc_policy
    enc = {
        "plaintext": (int(pe.enabled), int(pe.disabled)),
        "enabled": (int(pe.enabled), int(pe.enabled)),
        "forced": (int(pe.forced), int(pe.forced)),
    }[args.encryption]
    settings = {
        "listen_interfaces": "%s:%d" % (args.host, args.port),
        "outgoing_interfaces": "",
        "enable_dht": args.dht,
        # Never the public routers; every test node shares 127.0.0.1 (interop-partners.md).
        "dht_bootstrap_nodes": ",".join(args.dht_router),
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_block_ratelimit": 1000,
        "dht_announce_interval": args.dht_announce_interval,
        "enable_lsd": args.lsd,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_tcp": True,
        "enable_outgoing_tcp": True,
        "allow_multiple_connections_per_ip": True,
        "min_reconnect_time": 1,
        "in_enc_policy": enc[0],
        "out_enc_policy": enc[1],
        "upload_rate_limit": args.upload_limit,
        "download_rate_limit": args.download_limit,
        "alert_mask": int(
            lt.alert.category_t.error_notification
            | lt.alert.category_t.peer_notification
            | lt.alert.category_t.status_notification
            | lt.alert.category_t.tracker_notification
            | lt.alert.category_t.connect_notification
        ),
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "auto_manage_interval": 1,
        "unchoke_interval": 1,
        "optimistic_unchoke_interval": 2,
        "tracker_completion_timeout": 5,
        "stop_tracker_timeout": 1,
    }
    for item in args.set:
        name, _, value = item.partition("=")
        settings[name] = json.loads(value)
    ses = lt.session(settings)
    for item in args.set:
        name = item.partition("=")[0]
        if ses.get_settings().get(name) != settings[name]:
            emit({"type": "error", "message": "libtorrent did not take setting %s=%r" % (name, settings[name])})
            sys.exit(2)
    for n in args.dht_node:
        ses.add_dht_node(parse_peer(n))
    limit_local_class(ses)

    if args.magnet:
        params = lt.parse_magnet_uri(args.magnet)
    elif args.torrent:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(args.torrent)
    else:
        ap.error("--torrent or --magnet is required")
    params.save_path = args.save
    flags = params.flags
    flags &= ~lt.torrent_flags.auto_managed
    if args.no_trackers:
        flags |= lt.torrent_flags.paused  # resumed once the trackers are gone
    else:
        flags &= ~lt.torrent_flags.paused
    if args.mode == "seed" and args.skip_check:
        flags |= lt.torrent_flags.seed_mode
    params.flags = flags
    handle = ses.add_torrent(params)
    if args.no_trackers:
        handle.replace_trackers([])
        handle.resume()

    peers = [parse_peer(p) for p in args.peer]
    peers_lock = threading.Lock()
    stop = threading.Event()

    def read_stdin():
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
            except ValueError:
                emit({"type": "event", "name": "bad_command", "message": line})
                continue
            if cmd.get("cmd") == "connect":
                with peers_lock:
                    peers.append((cmd.get("host", "127.0.0.1"), int(cmd["port"])))
            elif cmd.get("cmd") == "set":
                # Changed while running: e.g. a smaller request queue than the reqq the peers were told.
                ses.apply_settings(cmd.get("settings", {}))
                limit_local_class(ses)
                emit({"type": "event", "name": "settings_applied", "message": json.dumps(cmd.get("settings", {}))})
            elif cmd.get("cmd") == "quit":
                break
        stop.set()

    if args.watch_stdin:
        threading.Thread(target=read_stdin, daemon=True).start()

    finished = False
    sources_seen = set()
    listening = False
    last_dial = 0.0
    while not stop.is_set():
        for a in ses.pop_alerts():
            name = type(a).__name__
            if name == "listen_succeeded_alert" and not listening:
                try:
                    sock_type_tcp = a.socket_type == lt.socket_type_t.tcp
                except AttributeError:
                    sock_type_tcp = True
                if sock_type_tcp:
                    listening = True
                    emit({"type": "listening", "port": ses.listen_port()})
            elif name == "listen_failed_alert":
                emit({"type": "error", "message": a.message()})
                sys.exit(2)
            elif name in EVENT_ALERTS:
                ev = {"type": "event", "name": name[:-6], "message": a.message()}
                ip = getattr(a, "ip", None)
                if ip is not None:
                    try:
                        ev["peer"] = "%s:%d" % (ip[0], ip[1])
                    except (TypeError, IndexError):
                        pass
                emit(ev)
        st = handle.status()
        sources_seen.update(int(p.source) for p in handle.get_peer_info())
        if st.errc.value() != 0:
            emit({"type": "error", "message": "torrent error: " + st.errc.message()})
        now = time.monotonic()
        # Dial the given peers until connected (min_reconnect_time=1 lets us retry each second).
        if peers and now - last_dial >= 1.0 and st.num_peers < len(peers):
            last_dial = now
            with peers_lock:
                for p in peers:
                    handle.connect_peer(p)
        peers_info = []
        for p in handle.get_peer_info():
            f = p.flags
            peers_info.append({
                "address": "%s:%d" % (p.ip[0], p.ip[1]),
                "numPieces": p.num_pieces,
                "seed": bool(f & lt.peer_info.seed),
                "choked": bool(f & lt.peer_info.choked),
                "remoteChoked": bool(f & lt.peer_info.remote_choked),
                "interesting": bool(f & lt.peer_info.interesting),
                "remoteInterested": bool(f & lt.peer_info.remote_interested),
                "totalDownload": p.total_download,
                "totalUpload": p.total_upload,
            })
        emit(
            {
                "type": "status",
                "state": str(st.state).split(".")[-1],
                "progress": st.progress,
                "totalDone": st.total_done,
                "totalWanted": st.total_wanted,
                "downloadRate": st.download_payload_rate,
                "uploadRate": st.upload_payload_rate,
                "totalDownload": st.total_payload_download,
                "totalUpload": st.total_payload_upload,
                "numPeers": st.num_peers,
                "numSeeds": st.num_seeds,
                "numPieces": st.num_pieces,
                "peers": peers_info,
                "isSeeding": st.is_seeding,
                "isFinished": st.is_finished,
                "dhtNodes": ses.status().dht_nodes if args.dht else 0,
                "peerSources": sorted(sources_seen),
            }
        )
        if st.is_finished and not finished and st.state != lt.torrent_status.checking_files:
            finished = True
            emit({"type": "finished"})
            if args.exit_on_finish:
                break
        stop.wait(args.interval)
    ses.pause()


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # report, then fail
        emit({"type": "error", "message": "%s: %s" % (type(e).__name__, e)})
        sys.exit(2)
    os._exit(0)
