/* addr.c — address parsing shared by the sockets (sinks, /metrics) and the table
 * operations (base.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <lauxlib.h>
#include "base.h"

int hostport_parse(const char *spec, const char *defhost, struct sockaddr_storage *sa)
{
	char host[64];
	const char *port = spec, *colon = strrchr(spec, ':');
	if (colon) {
		const char *h = spec;
		size_t hl = (size_t)(colon - spec);
		if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']')
			h++, hl -= 2;
		if (hl == 0 || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, h, hl);
		host[hl] = 0;
		port = colon + 1;
	} else if (defhost) {
		snprintf(host, sizeof(host), "%s", defhost);
	} else {
		return -EINVAL;
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (*port == 0 || *end || p < 1 || p > 65535)
		return -EINVAL;
	if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)sa) != 0 &&
	    uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)sa) != 0)
		return -EAFNOSUPPORT;
	return 0;
}

int family_parse(const char *name)
{
	if (!name)
		return AF_UNSPEC;
	if (strcmp(name, "ipv4") == 0)
		return AF_INET;
	if (strcmp(name, "ipv6") == 0)
		return AF_INET6;
	return -1;
}

int family_opt(lua_State *L, int arg)
{
	int f = family_parse(luaL_optstring(L, arg, NULL));
	if (f < 0)
		err_arg(L, arg, "\"ipv4\" or \"ipv6\" expected");
	return f;
}
