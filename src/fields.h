/* fields.h — the one list of event fields.
 *
 * The converter (convert.c), the filter validation in the Lua runtime (via
 * core.fields()), JSON (the table itself) and the README field reference
 * (`ctlua --fields`) all derive from these lists, so they cannot drift apart.
 *
 * X(name, kind, attribute, description) */
#ifndef CTLUA_FIELDS_H
#define CTLUA_FIELDS_H

#define CT_FIELDS(X) \
	X(event,    F_EVENT,   0, "string: `\"new\"`, `\"update\"` or `\"destroy\"`") \
	X(family,   F_FAMILY,  ATTR_L3PROTO, "string: `\"ipv4\"` or `\"ipv6\"`") \
	X(proto,    F_PROTO,   ATTR_L4PROTO, "string: `\"tcp\"`, `\"udp\"`, `\"icmp\"`, `\"icmpv6\"`, `\"sctp\"`, `\"dccp\"`, `\"gre\"`, `\"udplite\"`, else the number as text") \
	X(protonum, F_U8,      ATTR_L4PROTO, "integer: layer-4 protocol number") \
	X(state,    F_STATE,   0, "string: TCP/SCTP/DCCP state as conntrack prints it (`\"SYN_SENT\"`, `\"ESTABLISHED\"`...)") \
	X(timeout,  F_U32,     ATTR_TIMEOUT, "integer: seconds left; absent on natural-expiry DESTROY") \
	X(orig,     F_TUPLE,   0, "table: original direction, tuple fields below") \
	X(reply,    F_TUPLE,   1, "table: reply direction, tuple fields below") \
	X(status,   F_STATUS,  ATTR_STATUS, "set: lower-case names of the status bits that are on (`assured`, `seen_reply`, `confirmed`, `expected`, `src_nat`, `dst_nat`, `dying`...)") \
	X(mark,     F_U32,     ATTR_MARK, "integer: connection mark") \
	X(zone,     F_U16,     ATTR_ZONE, "integer: conntrack zone") \
	X(id,       F_U32,     ATTR_ID, "integer: conntrack id") \
	X(use,      F_U32,     ATTR_USE, "integer: reference count") \
	X(secmark,  F_U32,     ATTR_SECMARK, "integer: security mark") \
	X(secctx,   F_STR,     ATTR_SECCTX, "string: security context") \
	X(helper,   F_STR,     ATTR_HELPER_NAME, "string: name of the assigned helper (`\"ftp\"`)") \
	X(labels,   F_LABELS,  ATTR_CONNLABELS, "set: connlabel names (from connlabel.conf, else the bit number as text)") \
	X(start,    F_TSTAMP,  ATTR_TIMESTAMP_START, "number: kernel start timestamp, seconds (nf_conntrack_timestamp=1)") \
	X(stop,     F_TSTAMP,  ATTR_TIMESTAMP_STOP, "number: kernel stop timestamp, seconds (DESTROY, nf_conntrack_timestamp=1)") \
	X(time,     F_TIME,    0, "number: wall-clock seconds when ctlua received the event") \
	X(portid,   F_PORTID,  0, "integer: netlink port id of the process whose command caused the event") \
	X(progname, F_PROGNAME, 0, "string: name of that process, when it could be resolved") \
	X(self,     F_SELF,    0, "boolean: `true` when ctlua's own command caused the event") \
	X(netns,    F_NETNS,   0, "string: the network namespace it happened in, with `--netns` or `ct.watch` (its name under /run/netns, `\"self\"` for ctlua's own)")

/* Tuple fields: X(name, kind, orig attribute, reply attribute, description) */
#define TUPLE_FIELDS(X) \
	X(src,     T_SRC,   0, 0, "string: source address (IPv4 or IPv6 text)") \
	X(dst,     T_DST,   0, 0, "string: destination address") \
	X(sport,   T_PORT,  ATTR_ORIG_PORT_SRC, ATTR_REPL_PORT_SRC, "integer: source port (host order); not for ICMP") \
	X(dport,   T_PORT,  ATTR_ORIG_PORT_DST, ATTR_REPL_PORT_DST, "integer: destination port") \
	X(type,    T_ICMP,  0, 0, "integer: ICMP/ICMPv6 type (ICMP only)") \
	X(code,    T_ICMP,  1, 1, "integer: ICMP/ICMPv6 code (ICMP only)") \
	X(id,      T_ICMP,  2, 2, "integer: ICMP/ICMPv6 echo identifier (ICMP only)") \
	X(packets, T_U64,   ATTR_ORIG_COUNTER_PACKETS, ATTR_REPL_COUNTER_PACKETS, "integer: packet counter (nf_conntrack_acct=1)") \
	X(bytes,   T_U64,   ATTR_ORIG_COUNTER_BYTES, ATTR_REPL_COUNTER_BYTES, "integer: byte counter (nf_conntrack_acct=1)") \
	X(zone,    T_U16,   ATTR_ORIG_ZONE, ATTR_REPL_ZONE, "integer: directional zone")

#define EXP_FIELDS(X) \
	X(event,    F_EVENT,    0, "string: `\"expect-new\"` or `\"expect-destroy\"`") \
	X(family,   F_EXP_FAMILY, 0, "string: `\"ipv4\"` or `\"ipv6\"`") \
	X(proto,    F_EXP_PROTO, 0, "string: protocol of the expected connection") \
	X(protonum, F_EXP_PROTONUM, 0, "integer: its protocol number") \
	X(timeout,  F_U32,      ATTR_EXP_TIMEOUT, "integer: seconds left") \
	X(tuple,    F_EXP_TUPLE, ATTR_EXP_EXPECTED, "table: the expected connection `{src, dst, sport, dport}`") \
	X(mask,     F_EXP_TUPLE, ATTR_EXP_MASK, "table: mask over `tuple` `{src, dst, sport, dport}`") \
	X(master,   F_EXP_TUPLE, ATTR_EXP_MASTER, "table: the master connection `{src, dst, sport, dport, proto, protonum}`") \
	X(helper,   F_STR,      ATTR_EXP_HELPER_NAME, "string: helper that made it (`\"ftp\"`)") \
	X(class,    F_U32,      ATTR_EXP_CLASS, "integer: expectation class") \
	X(zone,     F_U16,      ATTR_EXP_ZONE, "integer: conntrack zone") \
	X(flags,    F_EXP_FLAGS, ATTR_EXP_FLAGS, "set: `permanent`, `inactive`, `userspace`") \
	X(fn,       F_STR,      ATTR_EXP_FN, "string: expectation function name") \
	X(nat,      F_EXP_NAT,  ATTR_EXP_NAT_TUPLE, "table: NAT tuple `{dir, src, dst, sport, dport}` when present") \
	X(time,     F_TIME,     0, "number: wall-clock seconds when ctlua received the event") \
	X(portid,   F_PORTID,   0, "integer: netlink port id of the process whose command caused the event") \
	X(progname, F_PROGNAME, 0, "string: name of that process, when it could be resolved") \
	X(self,     F_SELF,     0, "boolean: `true` when ctlua's own command caused the event") \
	X(netns,    F_NETNS,    0, "string: the network namespace it happened in, with `--netns` or `ct.watch`")

#endif
