/* SPDX-License-Identifier: Apache-2.0 */
/* The limits on untrusted input (include/hoist/limits.h, docs/security.md). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/limits.h"
#include "hoist/util.h"

static struct hoist_limits limits;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* A number with an optional binary suffix; false when it does not parse. */
static bool parse(const char *s, uint64_t *ret)
{
	char num[32];
	size_t n = strlen(s);
	unsigned shift = 0;
	uint64_t v;

	if (!n || n >= sizeof(num))
		return false;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	case 'T':
	case 't':
		shift = 40;
		break;
	default:
		break;
	}
	if (shift)
		num[n - 1] = '\0';
	if (hoist_parse_u64(num, UINT64_MAX >> shift, &v) < 0)
		return false;
	*ret = v << shift;
	return true;
}

static void env(const char *name, uint64_t *v, uint64_t def)
{
	const char *s = getenv(name);
	*v = def;
	if (s && *s)
		(void)parse(s, v);
}

static void load(void)
{
	env("HOIST_LIMIT_LAYER_SIZE", &limits.layer_size, HOIST_LIMIT_LAYER_SIZE_DEFAULT);
	env("HOIST_LIMIT_LAYER_RATIO", &limits.layer_ratio, HOIST_LIMIT_LAYER_RATIO_DEFAULT);
	env("HOIST_LIMIT_LAYER_RATIO_FROM", &limits.layer_ratio_from,
	    HOIST_LIMIT_LAYER_RATIO_FROM_DEFAULT);
	env("HOIST_LIMIT_LAYER_ENTRIES", &limits.layer_entries, HOIST_LIMIT_LAYER_ENTRIES_DEFAULT);
	env("HOIST_LIMIT_IMAGE_LAYERS", &limits.image_layers, HOIST_LIMIT_IMAGE_LAYERS_DEFAULT);
	env("HOIST_LIMIT_JSON_SIZE", &limits.json_size, HOIST_LIMIT_JSON_SIZE_DEFAULT);
	env("HOIST_LIMIT_INDEX_DEPTH", &limits.index_depth, HOIST_LIMIT_INDEX_DEPTH_DEFAULT);
	/* a JSON document is read into memory whole: keep it addressable */
	if (limits.json_size > ((uint64_t)1 << 30))
		limits.json_size = (uint64_t)1 << 30;
}

const struct hoist_limits *hoist_limits(void)
{
	pthread_once(&once, load);
	return &limits;
}

const char *hoist_limit_str(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	int u = -1;

	while (u < 3 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		snprintf(buf, len, "%llu %s", (unsigned long long)v, units[u]);
	return buf;
}
