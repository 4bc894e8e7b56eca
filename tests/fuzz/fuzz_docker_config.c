/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the Docker config (config.json: `auths`, `credHelpers`,
 * `credsStore`), which `hoist login` writes and every registry command
 * reads for credentials. The input is the file; it is written to a
 * temporary directory (made once, removed at exit) and credentials are
 * looked up for a few spellings of registry names. PATH points at an empty
 * directory, so a credential helper the input names is never found: no
 * program runs, no network is touched.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/registry.h"
#include "hoist/util.h"
#include "registry-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/hoist-fuzz-docker-config-XXXXXX";
static char *config, *bin;

static void cleanup(void)
{
	unlink(config);
	rmdir(bin);
	rmdir(dir);
}

static const char *const hosts[] = {
    "docker.io", "index.docker.io", "127.0.0.1:5000", "registry.example", "[::1]:443",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hoist_registry_opts opts = {0};

	if (!config) {
		if (!mkdtemp(dir))
			abort();
		config = hoist_xasprintf("%s/config.json", dir);
		bin = hoist_xasprintf("%s/bin", dir);
		if (mkdir(bin, 0700) < 0)
			abort();
		setenv("PATH", bin, 1);
		atexit(cleanup);
	}
	FILE *f = fopen(config, "w");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	opts.docker_config_dir = dir;
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		struct hoist_error err = {0};
		char *user = NULL, *secret = NULL;
		int r = reg_creds_lookup(&opts, hosts[i], &user, &secret, &err);
		if (r < 0 && !err.msg[0])
			abort(); /* every refusal says why */
		if (r == 0 && (user == NULL) != (secret == NULL))
			abort(); /* both or neither */
		free(user);
		free(secret);
	}
	return 0;
}
