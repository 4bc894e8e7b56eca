/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Base images from a registry: a FROM (or COPY --from) image that is not in
 * the store is pulled, as `docker build` does. Pulls run to completion (the
 * registry client joins its threads) before any RUN clones a sandbox.
 */
#include <errno.h>
#include <string.h>

#include "hoist/registry.h"
#include "run-private.h"

int build_pull(struct hoist_store *s, const struct hoist_build_opts *o, const char *name,
	       const struct hoist_platform *plat, char ret_digest[HOIST_DIGEST_MAX],
	       struct hoist_error *err)
{
	struct hoist_pull_result res;
	int rc;

	if (!o->registry)
		return hoist_error_set(err, -ENOENT, "'%s' not found in the store", name);
	rc = hoist_registry_pull(s, o->registry, name, plat, &res, err);
	if (rc < 0)
		return rc; /* the message names the reference */
	memcpy(ret_digest, res.digest, HOIST_DIGEST_MAX);
	return 0;
}
