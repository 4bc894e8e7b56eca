/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry auth: the Docker config file (auths, credsStore, credHelpers and
 * the docker-credential-* protocol), WWW-Authenticate challenges, the
 * Bearer token flow with a per-scope cache, and login/logout.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <jansson.h>

#include "registry-private.h"

extern char **environ;

#define MAX_CONFIG_FILE ((size_t)4 << 20)
#define MAX_HELPER_OUTPUT ((size_t)64 << 10)
#define DOCKER_HUB_KEY "https://index.docker.io/v1/"

/* ---- base64 ------------------------------------------------------------- */

char *reg_b64_encode(const void *data, size_t len)
{
	return hoist_base64_encode(data, len);
}

char *reg_b64_decode(const char *s, size_t *ret_len)
{
	size_t len = strlen(s);
	char *out = NULL;
	if (len > MAX_CONFIG_FILE || hoist_base64_decode(s, len, &out, ret_len) < 0)
		return NULL;
	return out;
}

/* ---- the Docker config file --------------------------------------------- */

static char *config_dir(const struct hoist_registry_opts *opts)
{
	if (opts && opts->docker_config_dir)
		return hoist_xstrdup(opts->docker_config_dir);
	const char *e = getenv("DOCKER_CONFIG");
	if (e && *e)
		return hoist_xstrdup(e);
	const char *home = getenv("HOME");
	return hoist_xasprintf("%s/.docker", home && *home ? home : "/");
}

/* Load config.json; an absent file is an empty object. */
static int config_load(const struct hoist_registry_opts *opts, json_t **ret,
		       struct hoist_error *err)
{
	_cleanup_free_ char *dir = config_dir(opts);
	_cleanup_free_ char *path = hoist_xasprintf("%s/config.json", dir);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	json_error_t je;

	int r = hoist_read_file_at(AT_FDCWD, path, MAX_CONFIG_FILE, &data, &len, err);
	if (r == -ENOENT) {
		hoist_error_clear(err);
		*ret = json_object();
		return 0;
	}
	if (r < 0)
		return r;
	json_t *j = json_loadb(data, len, 0, &je);
	explicit_bzero(data, len);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		/* No parser excerpt: the file holds secrets. */
		return hoist_error_set_at(err, -EBADMSG, path, j ? 0 : je.line, 0,
					  "docker config is not a JSON object");
	}
	*ret = j;
	return 0;
}

/* "https://host/v1/" or "host" -> "host"; Docker Hub's names -> "docker.io". */
static char *normalize_key(const char *key)
{
	const char *p = key;
	if (hoist_startswith(p, "https://"))
		p += 8;
	else if (hoist_startswith(p, "http://"))
		p += 7;
	size_t n = strcspn(p, "/");
	char *h = hoist_xstrndup(p, n);
	if (strcmp(h, "index.docker.io") == 0 || strcmp(h, "registry-1.docker.io") == 0 ||
	    strcmp(h, "registry.hub.docker.com") == 0) {
		free(h);
		h = hoist_xstrdup("docker.io");
	}
	return h;
}

/* The key Docker stores credentials under for a registry. */
static char *server_key(const char *host)
{
	_cleanup_free_ char *n = normalize_key(host);
	return strcmp(n, "docker.io") == 0 ? hoist_xstrdup(DOCKER_HUB_KEY) : hoist_xstrdup(n);
}

/*
 * Run `docker-credential-NAME ACTION` with `input` on stdin and return its
 * stdout. Spawned directly (posix_spawnp: fork/exec, no shell) with pipes.
 */
static int run_helper(const char *name, const char *action, const char *input, char **ret_out,
		      int *ret_status, struct hoist_error *err)
{
	_cleanup_free_ char *prog = hoist_xasprintf("docker-credential-%s", name);
	int in[2] = {-1, -1}, out[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r, status = 0;
	struct hoist_buf buf = HOIST_BUF_INIT;

	if (strchr(name, '/'))
		return hoist_error_set(err, -EINVAL, "bad credential helper name '%s'", name);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		r = -errno;
		if (in[0] >= 0) {
			close(in[0]);
			close(in[1]);
		}
		return hoist_error_set(err, r, "pipe: %s", strerror(-r));
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	char *argv[] = {prog, (char *)action, NULL};
	r = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (r != 0) {
		close(in[1]);
		close(out[0]);
		return hoist_error_set(err, -r, "running credential helper '%s': %s", prog,
				       strerror(r));
	}
	/* A helper that exits early must not kill us with SIGPIPE. */
	sigset_t pipe_set, old;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	(void)hoist_write_all(in[1], input, strlen(input));
	close(in[1]);
	struct timespec zero = {0, 0};
	while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	hoist_buf_init(&buf, MAX_HELPER_OUTPUT);
	for (;;) {
		char tmp[4096];
		ssize_t n = read(out[0], tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (hoist_buf_add(&buf, tmp, (size_t)n) < 0)
			break; /* too much: keep the first part */
	}
	close(out[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 255;
	if (!buf.data)
		hoist_buf_adds(&buf, "");
	*ret_out = hoist_buf_detach(&buf, NULL);
	return 0;
}

static int helper_get(const char *helper, const char *host, char **ret_user, char **ret_secret,
		      struct hoist_error *err)
{
	_cleanup_free_ char *key = server_key(host);
	_cleanup_free_ char *out = NULL;
	int status;

	int r = run_helper(helper, "get", key, &out, &status, err);
	if (r < 0)
		return r;
	if (status != 0) {
		bool not_found = strstr(out, "not found") != NULL;
		explicit_bzero(out, strlen(out));
		if (not_found)
			return 0; /* anonymous */
		return hoist_error_set(err, -EACCES,
				       "credential helper 'docker-credential-%s' failed for '%s'",
				       helper, key);
	}
	json_auto_t *j = json_loads(out, 0, NULL);
	explicit_bzero(out, strlen(out));
	const char *u = json_string_value(json_object_get(j, "Username"));
	const char *sec = json_string_value(json_object_get(j, "Secret"));
	if (!u || !sec)
		return hoist_error_set(
		    err, -EBADMSG, "credential helper 'docker-credential-%s' gave no credentials",
		    helper);
	/* "<token>" marks an identity token for OAuth2 refresh, which hoist
	 * does not speak: treat it as no credentials rather than a password. */
	if (strcmp(u, "<token>") == 0)
		return 0;
	*ret_user = hoist_xstrdup(u);
	*ret_secret = hoist_xstrdup(sec);
	return 0;
}

int reg_creds_lookup(const struct hoist_registry_opts *opts, const char *host, char **ret_user,
		     char **ret_secret, struct hoist_error *err)
{
	json_auto_t *cfg = NULL;
	_cleanup_free_ char *want = normalize_key(host);
	const char *k;
	json_t *v;

	*ret_user = *ret_secret = NULL;
	int r = config_load(opts, &cfg, err);
	if (r < 0)
		return r;
	/* credHelpers[host] wins, then credsStore, then auths (as Docker). */
	json_object_foreach(json_object_get(cfg, "credHelpers"), k, v)
	{
		_cleanup_free_ char *n = normalize_key(k);
		if (strcmp(n, want) == 0 && json_string_value(v))
			return helper_get(json_string_value(v), host, ret_user, ret_secret, err);
	}
	const char *store = json_string_value(json_object_get(cfg, "credsStore"));
	if (store && *store) {
		r = helper_get(store, host, ret_user, ret_secret, err);
		if (r < 0 || *ret_user)
			return r;
	}
	json_object_foreach(json_object_get(cfg, "auths"), k, v)
	{
		_cleanup_free_ char *n = normalize_key(k);
		if (strcmp(n, want) != 0)
			continue;
		const char *a = json_string_value(json_object_get(v, "auth"));
		if (a && *a) {
			size_t len;
			_cleanup_free_ char *plain = reg_b64_decode(a, &len);
			char *colon = plain ? memchr(plain, ':', len) : NULL;
			if (!colon) {
				if (plain)
					explicit_bzero(plain, len);
				return hoist_error_set(
				    err, -EBADMSG,
				    "malformed 'auth' entry for '%s' in docker config", k);
			}
			*ret_user = hoist_xstrndup(plain, (size_t)(colon - plain));
			*ret_secret = hoist_xstrdup(colon + 1);
			explicit_bzero(plain, len);
			return 0;
		}
		const char *u = json_string_value(json_object_get(v, "username"));
		const char *p = json_string_value(json_object_get(v, "password"));
		if (u && p) {
			*ret_user = hoist_xstrdup(u);
			*ret_secret = hoist_xstrdup(p);
			return 0;
		}
	}
	return 0;
}

/* ---- challenges and tokens ------------------------------------------------ */

/* Parse `key="value"` / `key=value` pairs after the scheme. A value longer
 * than 4 KiB is no value (NULL), not a truncated one: a realm cut short would
 * send the token request elsewhere. */
static char *challenge_param(const char *s, const char *key)
{
	size_t klen = strlen(key);
	const char *p = s;

	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *name = p;
		while (*p && *p != '=' && *p != ',' && *p != ' ')
			p++;
		size_t nlen = (size_t)(p - name);
		if (*p != '=') {
			if (!*p)
				break;
			continue;
		}
		p++;
		struct hoist_buf val = HOIST_BUF_INIT;
		bool too_long = false;
		hoist_buf_init(&val, 4096);
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				too_long |= hoist_buf_addc(&val, *p++) < 0;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ',' && *p != ' ')
				too_long |= hoist_buf_addc(&val, *p++) < 0;
		}
		if (nlen == klen && strncasecmp(name, key, klen) == 0) {
			if (too_long) {
				hoist_buf_release(&val);
				return NULL;
			}
			if (!val.data)
				hoist_buf_adds(&val, "");
			return hoist_buf_detach(&val, NULL);
		}
		hoist_buf_release(&val);
	}
	return NULL;
}

int reg_parse_challenge(struct reg_client *c, const char *value)
{
	if (strncasecmp(value, "Basic", 5) == 0 && (value[5] == ' ' || value[5] == '\0')) {
		c->scheme = REG_AUTH_BASIC;
		return 0;
	}
	if (strncasecmp(value, "Bearer ", 7) == 0) {
		char *realm = challenge_param(value + 7, "realm");
		if (!realm)
			return -EPROTO;
		free(c->realm);
		free(c->service);
		c->realm = realm;
		c->service = challenge_param(value + 7, "service");
		c->scheme = REG_AUTH_BEARER;
		return 0;
	}
	return -EPROTO;
}

static bool realm_allowed(struct reg_client *c, const char *realm)
{
	if (hoist_startswith(realm, "https://"))
		return true;
	if (!hoist_startswith(realm, "http://"))
		return false;
	/* Credentials go over plain HTTP only where the registry itself may. */
	const char *h = realm + 7;
	size_t n = strcspn(h, "/?");
	_cleanup_free_ char *host = hoist_xstrndup(h, n);
	return c->insecure || c->loopback ||
	       (hoist_startswith(host, "127.") || hoist_startswith(host, "localhost") ||
		hoist_startswith(host, "[::1]"));
}

int reg_token_get(struct reg_client *c, CURL *h, const char *scope, bool refresh, char **ret,
		  struct hoist_error *err)
{
	int64_t now = (int64_t)time(NULL);
	_cleanup_free_ char *realm = NULL, *service = NULL;
	struct hoist_buf url = HOIST_BUF_INIT;
	int r;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_tokens; i++)
		if (strcmp(c->tokens[i].scope, scope) == 0) {
			if (!refresh && c->tokens[i].expires > now + 10) {
				*ret = hoist_xstrdup(c->tokens[i].token);
				pthread_mutex_unlock(&c->lock);
				return 0;
			}
		}
	realm = c->realm ? hoist_xstrdup(c->realm) : NULL;
	service = c->service ? hoist_xstrdup(c->service) : NULL;
	pthread_mutex_unlock(&c->lock);
	if (!realm)
		return hoist_error_set(err, -EPROTO,
				       "registry '%s' asked for a token without a realm", c->host);
	if (!realm_allowed(c, realm))
		return hoist_error_set(err, -EPERM,
				       "refusing token realm '%s' of registry '%s': not https",
				       realm, c->host);

	hoist_buf_init(&url, 64 << 10);
	hoist_buf_adds(&url, realm);
	char sep = strchr(realm, '?') ? '&' : '?';
	if (service) {
		char *e = curl_easy_escape(h, service, 0);
		hoist_buf_addf(&url, "%cservice=%s", sep, e);
		curl_free(e);
		sep = '&';
	}
	_cleanup_free_ char *scopes = hoist_xstrdup(scope);
	char *save = NULL;
	for (char *t = strtok_r(scopes, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char *e = curl_easy_escape(h, t, 0);
		hoist_buf_addf(&url, "%cscope=%s", sep, e);
		curl_free(e);
		sep = '&';
	}

	_cleanup_free_ char *auth = NULL;
	if (c->user) {
		_cleanup_free_ char *plain = hoist_xasprintf("%s:%s", c->user, c->secret);
		_cleanup_free_ char *b64 = reg_b64_encode(plain, strlen(plain));
		explicit_bzero(plain, strlen(plain));
		auth = hoist_xasprintf("Authorization: Basic %s", b64);
		explicit_bzero(b64, strlen(b64));
	}
	/* The realm is another server: the request goes out as is, with the
	 * registry's credentials as Basic auth (never to an http realm elsewhere). */
	struct reg_req req = {
	    .method = "GET", .url = url.data, .body_fd = -1, .no_auth = true, .idempotent = true};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	r = 0;
	for (unsigned attempt = 0; attempt < 3; attempt++) {
		r = reg_perform_raw(c, h, &req, url.data, auth, &resp);
		if (r == 0 && (resp.status == 429 || resp.status >= 500) && attempt < 2)
			continue;
		break;
	}
	if (auth)
		explicit_bzero(auth, strlen(auth));
	hoist_buf_release(&url);
	if (r < 0)
		return hoist_error_set(err, -EIO, "requesting a token from '%s': %s", realm,
				       curl_easy_strerror(resp.curl_code));
	if (resp.status == 401 || resp.status == 403)
		return reg_fail(&resp, err, "authenticating to '%s'%s", c->host,
				c->user ? "" : " (no credentials: try 'hoist login')");
	if (resp.status != 200)
		return reg_fail(&resp, err, "requesting a token for '%s'", c->host);
	json_auto_t *j = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
	const char *tok = json_string_value(json_object_get(j, "token"));
	if (!tok || !*tok)
		tok = json_string_value(json_object_get(j, "access_token"));
	if (!tok || !*tok)
		return hoist_error_set(err, -EPROTO, "token server for '%s' returned no token",
				       c->host);
	json_int_t exp = json_integer_value(json_object_get(j, "expires_in"));
	if (exp < 60)
		exp = 60;

	pthread_mutex_lock(&c->lock);
	size_t i;
	for (i = 0; i < c->n_tokens; i++)
		if (strcmp(c->tokens[i].scope, scope) == 0)
			break;
	if (i == c->n_tokens) {
		c->tokens = hoist_xrealloc(c->tokens, (c->n_tokens + 1) * sizeof(*c->tokens));
		c->tokens[i].scope = hoist_xstrdup(scope);
		c->tokens[i].token = NULL;
		c->n_tokens++;
	}
	free(c->tokens[i].token);
	c->tokens[i].token = hoist_xstrdup(tok);
	c->tokens[i].expires = now + (int64_t)exp;
	pthread_mutex_unlock(&c->lock);
	*ret = hoist_xstrdup(tok);
	explicit_bzero(resp.body.data, resp.body.len);
	return 0;
}

/* ---- login / logout ----------------------------------------------------------- */

static int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = hoist_xstrdup(path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST)
				return -errno;
			*s = '/';
		}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Write config.json atomically with mode 0600 (it holds secrets). */
static int config_save(const struct hoist_registry_opts *opts, json_t *cfg, struct hoist_error *err)
{
	_cleanup_free_ char *dir = config_dir(opts);
	_cleanup_free_ char *path = hoist_xasprintf("%s/config.json", dir);
	_cleanup_free_ char *tmp = hoist_xasprintf("%s/.config.json.XXXXXX", dir);
	_cleanup_free_ char *data = NULL;
	_cleanup_close_ int fd = -1;
	int r = mkdir_p(dir, 0700);

	if (r < 0)
		return hoist_error_set(err, r, "creating '%s': %s", dir, strerror(-r));
	data = json_dumps(cfg, JSON_INDENT(8) | JSON_SORT_KEYS);
	if (!data)
		return hoist_error_set(err, -ENOMEM, "cannot encode docker config");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "creating a file in '%s': %s", dir,
				       strerror(errno));
	if (fchmod(fd, 0600) < 0 || hoist_write_all(fd, data, strlen(data)) < 0 ||
	    hoist_write_all(fd, "\n", 1) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		explicit_bzero(data, strlen(data));
		return hoist_error_set(err, r, "writing '%s': %s", path, strerror(-r));
	}
	explicit_bzero(data, strlen(data));
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd);
	return 0;
}

/* Drop every auths entry that names host; returns how many went. */
static int remove_auths(json_t *cfg, const char *host)
{
	json_t *auths = json_object_get(cfg, "auths");
	_cleanup_free_ char *want = normalize_key(host);
	const char *k;
	json_t *v;
	void *tmp;
	int n = 0;

	json_object_foreach_safe(auths, tmp, k, v)
	{
		_cleanup_free_ char *nk = normalize_key(k);
		if (strcmp(nk, want) == 0) {
			json_object_del(auths, k);
			n++;
		}
	}
	return n;
}

static const char *helper_for(json_t *cfg, const char *host)
{
	_cleanup_free_ char *want = normalize_key(host);
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(cfg, "credHelpers"), k, v)
	{
		_cleanup_free_ char *n = normalize_key(k);
		if (strcmp(n, want) == 0)
			return json_string_value(v);
	}
	const char *s = json_string_value(json_object_get(cfg, "credsStore"));
	return s && *s ? s : NULL;
}

int hoist_registry_login(const struct hoist_registry_opts *opts, const char *registry,
			 const char *user, const char *password, struct hoist_error *err)
{
	_cleanup_free_ char *host = normalize_key(registry);
	_cleanup_free_ char *key = server_key(host);
	struct reg_client *c = NULL;
	json_auto_t *cfg = NULL;
	int r;

	if (!user || !*user || !password)
		return hoist_error_set(err, -EINVAL, "login needs a username and a password");
	r = reg_client_new_creds(opts, host, user, password, &c, err);
	if (r < 0)
		return r;
	/* Check the credentials: GET /v2/ answered through the auth flow. */
	CURL *h = reg_handle_new();
	struct reg_req req = {.method = "GET", .url = "/v2/", .body_fd = -1, .idempotent = true};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	r = reg_do(c, h, &req, &resp, err);
	curl_easy_cleanup(h);
	if (r >= 0 && resp.status == 200 && c->scheme == REG_AUTH_NONE && c->user)
		r = 0; /* a registry without auth: nothing to check, store anyway */
	else if (r >= 0 && resp.status != 200)
		r = reg_fail(&resp, err, "login to '%s' failed", host);
	reg_client_free(c);
	if (r < 0)
		return r;

	r = config_load(opts, &cfg, err);
	if (r < 0)
		return r;
	json_t *auths = json_object_get(cfg, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(cfg, "auths", auths);
	}
	remove_auths(cfg, host);
	const char *helper = helper_for(cfg, host);
	if (helper) {
		json_auto_t *in = json_pack("{s:s, s:s, s:s}", "ServerURL", key, "Username", user,
					    "Secret", password);
		_cleanup_free_ char *input = json_dumps(in, JSON_COMPACT);
		_cleanup_free_ char *out = NULL;
		int status;
		r = run_helper(helper, "store", input, &out, &status, err);
		explicit_bzero(input, strlen(input));
		if (r < 0)
			return r;
		if (status != 0)
			return hoist_error_set(err, -EIO,
					       "credential helper 'docker-credential-%s' could not "
					       "store credentials for '%s'",
					       helper, key);
		json_object_set_new(auths, key, json_object());
	} else {
		_cleanup_free_ char *plain = hoist_xasprintf("%s:%s", user, password);
		_cleanup_free_ char *b64 = reg_b64_encode(plain, strlen(plain));
		explicit_bzero(plain, strlen(plain));
		json_object_set_new(auths, key, json_pack("{s:s}", "auth", b64));
		explicit_bzero(b64, strlen(b64));
	}
	return config_save(opts, cfg, err);
}

int hoist_registry_logout(const struct hoist_registry_opts *opts, const char *registry,
			  struct hoist_error *err)
{
	_cleanup_free_ char *host = normalize_key(registry);
	_cleanup_free_ char *key = server_key(host);
	json_auto_t *cfg = NULL;
	int removed, r;

	r = config_load(opts, &cfg, err);
	if (r < 0)
		return r;
	const char *helper = helper_for(cfg, host);
	removed = remove_auths(cfg, host);
	if (helper) {
		_cleanup_free_ char *out = NULL;
		int status;
		r = run_helper(helper, "erase", key, &out, &status, err);
		if (r < 0)
			return r;
		if (status == 0)
			removed++;
	}
	if (!removed)
		return hoist_error_set(err, -ENOENT, "not logged in to '%s'", host);
	return config_save(opts, cfg, err);
}
