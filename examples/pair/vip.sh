#!/bin/sh
# onMaster / onBackup hook for a Linux VIP. fulcrum runs it with FULCRUM_STATE
# (MASTER, BACKUP or FAULT), FULCRUM_PEER_ID and FULCRUM_PRIORITY set, and kills
# it after peer.hookTimeout. Its failure is logged; it never stops fulcrum.
set -eu
VIP=192.0.2.100/24
DEV=eth0
case "$FULCRUM_STATE" in
  MASTER)
    ip addr replace "$VIP" dev "$DEV"
    # Gratuitous ARP so switches and neighbours learn the VIP's new MAC now.
    arping -c 3 -A -I "$DEV" "${VIP%/*}" >/dev/null 2>&1 || true
    ;;
  BACKUP|FAULT)
    ip addr del "$VIP" dev "$DEV" 2>/dev/null || true
    ;;
esac
