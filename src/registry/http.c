/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP layer of the registry client: one libcurl easy handle per thread,
 * bounded header and body capture, auth headers, retries with backoff, TLS
 * trust and the HTTPS-then-HTTP choice for loopback and insecure hosts.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "registry-private.h"

#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define DEFAULT_CERTS_DIR "/etc/docker/certs.d"
#define MAX_CA_FILE ((size_t)16 << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

CURL *reg_handle_new(void)
{
	pthread_once(&curl_once, curl_init_once);
	return curl_easy_init();
}

void reg_resp_release(struct reg_resp *r)
{
	hoist_buf_release(&r->headers);
	hoist_buf_release(&r->body);
	r->status = 0;
	r->curl_code = CURLE_OK;
}

char *reg_resp_header(const struct reg_resp *r, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = r->headers.data;

	if (!p)
		return NULL;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1;
			const char *end = p + len;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
				end--;
			return hoist_xstrndup(v, (size_t)(end - v));
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return NULL;
}

/* ---- host classification -------------------------------------------- */

/* "host:port" -> "host" (brackets of IPv6 literals kept out). New string. */
static char *host_no_port(const char *host)
{
	if (host[0] == '[') {
		const char *e = strchr(host, ']');
		return e ? hoist_xstrndup(host + 1, (size_t)(e - host - 1)) : hoist_xstrdup(host);
	}
	const char *c = strrchr(host, ':');
	return c ? hoist_xstrndup(host, (size_t)(c - host)) : hoist_xstrdup(host);
}

static bool host_is_loopback(const char *host)
{
	_cleanup_free_ char *h = host_no_port(host);
	return strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0 || hoist_startswith(h, "127.");
}

static bool host_in_list(const char *host, const char *list_item)
{
	if (strcmp(host, list_item) == 0)
		return true;
	/* "host" in the list covers every port of that host, as Docker's does not
	 * but users expect for loopback mirrors. */
	_cleanup_free_ char *h = host_no_port(host);
	return strcmp(h, list_item) == 0;
}

static bool host_is_insecure(const struct hoist_registry_opts *opts, const char *host)
{
	if (opts && opts->insecure)
		for (const char *const *p = opts->insecure; *p; p++)
			if (host_in_list(host, *p))
				return true;
	const char *env = getenv("HOIST_INSECURE_REGISTRIES");
	if (env && *env) {
		_cleanup_free_ char *copy = hoist_xstrdup(env);
		char *save = NULL;
		for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
			if (host_in_list(host, t))
				return true;
	}
	return false;
}

/* Append one PEM file to the bundle; a missing file is fine. */
/*
 * SSL_CERT_FILE, OpenSSL's and Go's variable for the trust store, stands
 * in for the system bundle when set: hoist's image points it at its own
 * copy, which the in-place rung keeps while it replaces /etc (docs/ci.md).
 */
static const char *system_ca_env(void)
{
	const char *f = getenv("SSL_CERT_FILE");
	return f && *f ? f : NULL;
}

static int add_ca_file(struct hoist_buf *ca, const char *path, bool required,
		       struct hoist_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r = hoist_read_file_at(AT_FDCWD, path, MAX_CA_FILE, &data, &len, err);
	if (r < 0) {
		if (!required && (r == -ENOENT || r == -EACCES)) {
			hoist_error_clear(err);
			return 0;
		}
		return hoist_error_prefix(err, "reading CA file '%s'", path);
	}
	hoist_buf_add(ca, data, len);
	hoist_buf_addc(ca, '\n');
	return 1;
}

/* System CAs plus /etc/docker/certs.d/HOST/ *.crt plus opts->tls_ca. */
static int load_cas(struct reg_client *c, struct hoist_error *err)
{
	const char *dir =
	    c->opts && c->opts->certs_dir ? c->opts->certs_dir : getenv("HOIST_CERTS_DIR");
	_cleanup_buf_ struct hoist_buf extra = HOIST_BUF_INIT;
	int r;

	hoist_buf_init(&extra, MAX_CA_FILE * 2);
	if (!dir || !*dir)
		dir = DEFAULT_CERTS_DIR;
	_cleanup_free_ char *hostdir = hoist_xasprintf("%s/%s", dir, c->host);
	DIR *d = opendir(hostdir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!hoist_endswith(de->d_name, ".crt"))
				continue;
			_cleanup_free_ char *p = hoist_xasprintf("%s/%s", hostdir, de->d_name);
			r = add_ca_file(&extra, p, false, err);
			if (r < 0) {
				closedir(d);
				return r;
			}
		}
		closedir(d);
	}
	if (c->opts && c->opts->tls_ca) {
		r = add_ca_file(&extra, c->opts->tls_ca, true, err);
		if (r < 0)
			return r;
	}
	if (extra.len == 0)
		return 0; /* curl's default trust store */
	hoist_buf_init(&c->ca, MAX_CA_FILE * 3);
	r = add_ca_file(&c->ca, system_ca_env() ? system_ca_env() : SYSTEM_CA_BUNDLE, false, err);
	if (r < 0)
		return r;
	hoist_buf_add(&c->ca, extra.data, extra.len);
	return 0;
}

/* ---- one transfer ------------------------------------------------------ */

struct xfer {
	struct reg_client *c;
	const struct reg_req *req;
	struct reg_resp *resp;
	uint64_t sent;
	bool overflow;	/* headers or body past their cap */
	int sink_error; /* negative errno from the sink */
	bool sinking;	/* status was 2xx: body goes to the sink */
};

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;

	/* A new status line (after a redirect or 100-continue): start over. */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		hoist_buf_reset(&x->resp->headers);
		x->sinking = false;
	}
	if (hoist_buf_add(&x->resp->headers, data, len) < 0) {
		x->overflow = true;
		return 0;
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	if (x->req->sink && x->sinking) {
		int r = x->req->sink(x->req->sink_ud, data, len);
		if (r < 0) {
			x->sink_error = r;
			return 0;
		}
		return len;
	}
	if (hoist_buf_add(&x->resp->body, data, len) < 0) {
		x->overflow = true;
		return 0;
	}
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	const struct reg_req *req = x->req;
	size_t want = size * n;

	if (req->body_fd >= 0) {
		uint64_t left = req->body_fd_len - x->sent;
		if (want > left)
			want = (size_t)left;
		if (want == 0)
			return 0;
		ssize_t got = pread(req->body_fd, buf, want, (off_t)(req->body_off + x->sent));
		if (got <= 0)
			return CURL_READFUNC_ABORT;
		want = (size_t)got;
	} else {
		size_t left = req->body_len - (size_t)x->sent;
		if (want > left)
			want = left;
		if (want)
			memcpy(buf, (const char *)req->body + x->sent, want);
	}
	x->sent += want;
	if (req->on_sent && want)
		req->on_sent(req->on_sent_ud, x->sent);
	return want;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
	struct xfer *x = ud;
	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	x->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static bool cancelled(struct reg_client *c)
{
	return __atomic_load_n(&c->cancel, __ATOMIC_RELAXED) != 0;
}

/* Abort the transfer (non-zero) once another job of the pool has failed. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct xfer *x = ud;
	if (cancelled(x->c))
		return 1;
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return 0;
}

static bool url_is_ours(const struct reg_client *c, const char *url)
{
	return c->base && hoist_startswith(url, c->base) &&
	       (url[strlen(c->base)] == '/' || url[strlen(c->base)] == '\0');
}

/* Decide the sink before body bytes arrive: curl calls the header callback
 * with the blank line that ends the headers. */
static size_t on_header_sink(char *data, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t r = on_header(data, size, n, ud);
	if (r && (size * n <= 2) && x->req->sink) {
		/* end of a header block: is it a final 2xx? */
		const char *h = x->resp->headers.data;
		long st = 0;
		if (h && hoist_startswith(h, "HTTP/")) {
			const char *sp = strchr(h, ' ');
			if (sp)
				st = strtol(sp + 1, NULL, 10);
		}
		x->sinking = st >= 200 && st < 300;
	}
	return r;
}

static int perform(struct reg_client *c, CURL *h, const struct reg_req *req, const char *url,
		   const char *auth, bool verify, struct reg_resp *resp)
{
	struct curl_slist *hdrs = NULL;
	struct xfer x = {.c = c, .req = req, .resp = resp};
	bool has_body = req->body || req->body_fd >= 0;
	uint64_t body_len = req->body_fd >= 0 ? req->body_fd_len : req->body_len;
	CURLcode cc;

	hoist_buf_release(&resp->headers);
	hoist_buf_release(&resp->body);
	hoist_buf_init(&resp->headers, REG_MAX_HEADERS);
	hoist_buf_init(&resp->body, req->max_body ? req->max_body : REG_MAX_SMALL_BODY);
	resp->status = 0;
	resp->curl_code = CURLE_OK;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR,
			 (c->insecure || c->loopback) ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_USERAGENT,
			 "hoist/"
			 "0.1");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A stalled transfer (under 1 byte/s for 60 s) counts as dropped. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header_sink);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	if (req->follow) {
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	}
	if (!verify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (c->ca.len) {
		struct curl_blob blob = {
		    .data = c->ca.data, .len = c->ca.len, .flags = CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	} else if (system_ca_env()) {
		curl_easy_setopt(h, CURLOPT_CAINFO, system_ca_env());
	}

	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &x);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, has_body ? (curl_off_t)body_len : 0);
	}

	if (req->accept) {
		_cleanup_free_ char *v = hoist_xasprintf("Accept: %s", req->accept);
		hdrs = curl_slist_append(hdrs, v);
	}
	if (req->content_type) {
		_cleanup_free_ char *v = hoist_xasprintf("Content-Type: %s", req->content_type);
		hdrs = curl_slist_append(hdrs, v);
	}
	if (req->content_range) {
		_cleanup_free_ char *v = hoist_xasprintf("Content-Range: %s", req->content_range);
		hdrs = curl_slist_append(hdrs, v);
	}
	if (auth)
		hdrs = curl_slist_append(hdrs, auth);
	/* No 100-continue round trip: registries and proxies answer directly. */
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

	cc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	resp->curl_code = cc;
	if (x.sink_error)
		return x.sink_error;
	if (x.overflow)
		return -E2BIG;
	if (cc != CURLE_OK) {
		resp->status = 0;
		return -EIO;
	}
	return 0;
}

int reg_perform_raw(struct reg_client *c, CURL *h, const struct reg_req *req, const char *url,
		    const char *auth, struct reg_resp *resp)
{
	return perform(c, h, req, url, auth, !c->insecure, resp);
}

static bool transient_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* Sleep in 50 ms steps, so a cancelled pool does not wait out a backoff. */
static void sleep_ms(struct reg_client *c, long ms)
{
	while (ms > 0 && !(c && cancelled(c))) {
		long step = ms < 50 ? ms : 50;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = step * 1000000L};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ms -= step;
	}
}

char *reg_url_resolve(const struct reg_client *c, const char *loc)
{
	if (hoist_startswith(loc, "http://") || hoist_startswith(loc, "https://"))
		return hoist_xstrdup(loc);
	if (loc[0] == '/')
		return hoist_xasprintf("%s%s", c->base, loc);
	return hoist_xasprintf("%s/%s", c->base, loc);
}

void reg_progress(struct reg_client *c, enum hoist_registry_event ev, const char *digest,
		  const char *media_type, uint64_t done, uint64_t total, const char *message)
{
	if (!c->opts || !c->opts->progress)
		return;
	struct hoist_registry_progress p = {
	    .event = ev,
	    .digest = digest ? digest : "",
	    .media_type = media_type ? media_type : "",
	    .done = done,
	    .total = total,
	    .message = message,
	};
	pthread_mutex_lock(&c->lock);
	c->opts->progress(&p, c->opts->progress_userdata);
	pthread_mutex_unlock(&c->lock);
}

static const char *curl_reason(CURLcode cc)
{
	return curl_easy_strerror(cc);
}

/* Build the Authorization header for this request, or NULL. */
static int auth_header(struct reg_client *c, CURL *h, const struct reg_req *req, const char *url,
		       bool refresh, char **ret, struct hoist_error *err)
{
	enum reg_auth_scheme scheme;

	*ret = NULL;
	if (req->no_auth || !url_is_ours(c, url))
		return 0;
	pthread_mutex_lock(&c->lock);
	scheme = c->scheme;
	pthread_mutex_unlock(&c->lock);
	if (scheme == REG_AUTH_BASIC && c->user) {
		_cleanup_free_ char *plain = hoist_xasprintf("%s:%s", c->user, c->secret);
		_cleanup_free_ char *b64 = reg_b64_encode(plain, strlen(plain));
		explicit_bzero(plain, strlen(plain));
		*ret = hoist_xasprintf("Authorization: Basic %s", b64);
		return 0;
	}
	if (scheme == REG_AUTH_BEARER) {
		_cleanup_free_ char *tok = NULL;
		int r = reg_token_get(c, h, req->scope ? req->scope : "", refresh, &tok, err);
		if (r < 0)
			return r;
		*ret = hoist_xasprintf("Authorization: Bearer %s", tok);
	}
	return 0;
}

int reg_do(struct reg_client *c, CURL *h, const struct reg_req *req, struct reg_resp *resp,
	   struct hoist_error *err)
{
	unsigned retries = c->opts && c->opts->retries ? c->opts->retries : 4;
	_cleanup_free_ char *url = reg_url_resolve(c, req->url);
	bool auth_retried = false, refresh = false;
	long backoff = 250;
	int r;

	for (unsigned attempt = 0;; attempt++) {
		_cleanup_free_ char *auth = NULL;
		r = auth_header(c, h, req, url, refresh, &auth, err);
		if (r < 0)
			return r;
		if (req->sink_reset && attempt > 0)
			req->sink_reset(req->sink_ud);
		r = cancelled(c) ? -ECANCELED : perform(c, h, req, url, auth, !c->insecure, resp);
		if (auth)
			explicit_bzero(auth, strlen(auth));
		if (r == -ECANCELED || (r == -EIO && cancelled(c)))
			return hoist_error_set(err, -ECANCELED, "%s '%s': cancelled", req->method,
					       req->url);
		if (r == -E2BIG)
			return hoist_error_set(err, -EPROTO, "reply to %s '%s' is too large",
					       req->method, req->url);
		if (r < 0 && r != -EIO)
			return r; /* the sink's error (digest, size) has its message */
		if (r == -EIO) {
			if (req->idempotent && attempt < retries &&
			    transient_curl(resp->curl_code)) {
				reg_progress(c, HOIST_REGISTRY_EV_RETRY, NULL, NULL, 0, 0,
					     curl_reason(resp->curl_code));
				sleep_ms(c, backoff);
				backoff *= 2;
				continue;
			}
			return hoist_error_set(err, -EIO, "%s '%s': %s", req->method, req->url,
					       curl_reason(resp->curl_code));
		}
		if (resp->status == 401 && !auth_retried && !req->no_auth && url_is_ours(c, url)) {
			_cleanup_free_ char *chal = reg_resp_header(resp, "WWW-Authenticate");
			if (chal) {
				pthread_mutex_lock(&c->lock);
				r = reg_parse_challenge(c, chal);
				pthread_mutex_unlock(&c->lock);
				if (r >= 0) {
					auth_retried = true;
					refresh = true;
					if (req->sink_reset)
						req->sink_reset(req->sink_ud);
					continue;
				}
			}
		}
		refresh = false;
		if (req->idempotent && attempt < retries &&
		    (resp->status == 429 || resp->status >= 500)) {
			long wait = backoff;
			_cleanup_free_ char *ra = reg_resp_header(resp, "Retry-After");
			uint64_t secs;
			if (ra && hoist_parse_u64(ra, 60, &secs) == 0)
				wait = (long)secs * 1000;
			char msg[64];
			snprintf(msg, sizeof(msg), "HTTP %ld", resp->status);
			reg_progress(c, HOIST_REGISTRY_EV_RETRY, NULL, NULL, 0, 0, msg);
			sleep_ms(c, wait);
			backoff *= 2;
			continue;
		}
		return 0;
	}
}

int reg_fail(const struct reg_resp *resp, struct hoist_error *err, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	int code;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	switch (resp->status) {
	case 401:
	case 403:
		code = -EACCES;
		break;
	case 404:
		code = -ENOENT;
		break;
	case 413:
		code = -EFBIG;
		break;
	default:
		code = -EPROTO;
	}
	/* The registry's own words, when it gave them: {"errors":[{code,message}]}. */
	char detail[256] = "";
	if (resp->body.len && resp->body.data) {
		json_auto_t *j = json_loadb(resp->body.data, resp->body.len, 0, NULL);
		json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
		const char *ec = json_string_value(json_object_get(e0, "code"));
		const char *em = json_string_value(json_object_get(e0, "message"));
		if (ec || em)
			snprintf(detail, sizeof(detail), ": %s%s%s", ec ? ec : "",
				 ec && em ? ": " : "", em ? em : "");
	}
	hoist_error_set(err, code, "%s: HTTP %ld%s", what, resp->status, detail);
	if (err)
		err->http_status = (int)resp->status;
	return code;
}

/* ---- client ------------------------------------------------------------- */

static int ping(struct reg_client *c, CURL *h, struct hoist_error *err)
{
	struct reg_req req = {.method = "GET", .url = "/v2/", .body_fd = -1, .no_auth = true};
	_cleanup_(reg_resp_release) struct reg_resp resp = {0};
	bool may_http = c->insecure || c->loopback;
	/* The probe is retried like every idempotent request (docs/registry.md);
	 * switching a loopback or insecure registry to HTTP is not a retry. */
	unsigned retries = c->opts && c->opts->retries ? c->opts->retries : 4;
	long backoff = 250;
	int r;

	c->base = hoist_xasprintf("https://%s", c->api_host);
	for (unsigned attempt = 0;;) {
		_cleanup_free_ char *url = hoist_xasprintf("%s/v2/", c->base);
		r = perform(c, h, &req, url, NULL, !c->insecure, &resp);
		if (r == 0)
			break;
		if (r == -E2BIG)
			return hoist_error_set(err, -EPROTO, "reply from '%s' is too large",
					       c->host);
		if (may_http && hoist_startswith(c->base, "https://") &&
		    resp.curl_code != CURLE_PEER_FAILED_VERIFICATION) {
			/* A loopback or insecure registry that speaks plain HTTP. A
			 * certificate failure is never downgraded: the server speaks TLS. */
			free(c->base);
			c->base = hoist_xasprintf("http://%s", c->api_host);
			continue;
		}
		if (transient_curl(resp.curl_code) && attempt < retries) {
			attempt++;
			reg_progress(c, HOIST_REGISTRY_EV_RETRY, NULL, NULL, 0, 0,
				     curl_reason(resp.curl_code));
			sleep_ms(c, backoff);
			backoff *= 2;
			continue;
		}
		return hoist_error_set(err, -EIO, "connecting to registry '%s': %s", c->host,
				       curl_reason(resp.curl_code));
	}
	if (resp.status == 401) {
		_cleanup_free_ char *chal = reg_resp_header(&resp, "WWW-Authenticate");
		if (chal)
			reg_parse_challenge(c, chal);
	}
	return 0;
}

static int client_new(const struct hoist_registry_opts *opts, const char *host, bool explicit,
		      bool insecure, const char *user, const char *secret, struct reg_client **ret,
		      struct hoist_error *err)
{
	struct reg_client *c = NULL;
	CURL *h = NULL;
	int r;

	/* The one gate every registry operation passes: offline means no
	 * connection at all, not a timeout. */
	if (reg_offline(opts))
		return hoist_error_set(
		    err, -ENETUNREACH,
		    "hoist is offline (--offline or HOIST_OFFLINE): not contacting "
		    "registry '%s'",
		    host);
	c = hoist_xcalloc(1, sizeof(*c));
	c->opts = opts;
	pthread_mutex_init(&c->lock, NULL);
	c->host = hoist_xstrdup(host);
	/* Docker Hub's API lives on another name than its references use. */
	c->api_host = hoist_xstrdup(strcmp(host, "docker.io") == 0 ? "registry-1.docker.io" : host);
	c->insecure = insecure || host_is_insecure(opts, host);
	c->loopback = host_is_loopback(host);
	if (explicit) {
		c->user = user ? hoist_xstrdup(user) : NULL;
		c->secret = secret ? hoist_xstrdup(secret) : NULL;
	} else {
		r = reg_creds_lookup(opts, host, &c->user, &c->secret, err);
		if (r < 0)
			goto fail;
	}
	r = load_cas(c, err);
	if (r < 0)
		goto fail;
	h = reg_handle_new();
	if (!h) {
		r = hoist_error_set(err, -ENOMEM, "cannot create a curl handle");
		goto fail;
	}
	r = ping(c, h, err);
	curl_easy_cleanup(h);
	if (r < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	reg_client_free(c);
	return r;
}

int reg_client_new(const struct hoist_registry_opts *opts, const char *host,
		   struct reg_client **ret, struct hoist_error *err)
{
	return client_new(opts, host, false, false, NULL, NULL, ret, err);
}

int reg_client_open(const struct hoist_registry_opts *opts, const char *host, bool insecure,
		    struct reg_client **ret, struct hoist_error *err)
{
	return client_new(opts, host, false, insecure, NULL, NULL, ret, err);
}

int reg_client_new_creds(const struct hoist_registry_opts *opts, const char *host, const char *user,
			 const char *secret, struct reg_client **ret, struct hoist_error *err)
{
	return client_new(opts, host, true, false, user, secret, ret, err);
}

void reg_client_free(struct reg_client *c)
{
	if (!c)
		return;
	free(c->host);
	free(c->api_host);
	free(c->base);
	hoist_buf_release(&c->ca);
	free(c->user);
	if (c->secret) {
		explicit_bzero(c->secret, strlen(c->secret));
		free(c->secret);
	}
	free(c->realm);
	free(c->service);
	for (size_t i = 0; i < c->n_tokens; i++) {
		free(c->tokens[i].scope);
		explicit_bzero(c->tokens[i].token, strlen(c->tokens[i].token));
		free(c->tokens[i].token);
	}
	free(c->tokens);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- worker pool -------------------------------------------------------- */

struct pool {
	struct reg_client *c;
	reg_job_fn fn;
	void *ud;
	size_t n;
	size_t next;
	bool failed;
	struct hoist_error err;
	int rc;
	pthread_mutex_t lock;
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;
	CURL *h = reg_handle_new();
	struct hoist_error err = {0};

	for (;;) {
		size_t i;
		pthread_mutex_lock(&p->lock);
		if (p->failed || p->next >= p->n) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		i = p->next++;
		pthread_mutex_unlock(&p->lock);
		int r = h ? p->fn(p->c, h, i, p->ud, &err)
			  : hoist_error_set(&err, -ENOMEM, "cannot create a curl handle");
		if (r < 0) {
			pthread_mutex_lock(&p->lock);
			if (!p->failed) {
				p->failed = true;
				p->rc = r;
				p->err = err;
				/* The others stop now rather than finish their transfers. */
				__atomic_store_n(&p->c->cancel, 1, __ATOMIC_RELAXED);
			}
			pthread_mutex_unlock(&p->lock);
			break;
		}
	}
	if (h)
		curl_easy_cleanup(h);
	return NULL;
}

int reg_run_pool(struct reg_client *c, size_t n, reg_job_fn fn, void *ud, struct hoist_error *err)
{
	unsigned conc = c->opts && c->opts->concurrency ? c->opts->concurrency : 3;
	struct pool p = {.c = c, .fn = fn, .ud = ud, .n = n};
	pthread_t threads[16];
	size_t nt = 0;

	if (n == 0)
		return 0;
	if (conc > ARRAY_SIZE(threads))
		conc = ARRAY_SIZE(threads);
	if (conc > n)
		conc = (unsigned)n;
	pthread_mutex_init(&p.lock, NULL);
	if (conc > 1)
		for (unsigned i = 0; i < conc; i++)
			if (pthread_create(&threads[nt], NULL, pool_worker, &p) == 0)
				nt++;
	if (nt == 0)
		pool_worker(&p); /* one at a time, on this thread */
	/* Join everything before returning: no transfer or resolver thread may
	 * outlive this call (callers clone() later). */
	for (size_t i = 0; i < nt; i++)
		pthread_join(threads[i], NULL);
	__atomic_store_n(&c->cancel, 0, __ATOMIC_RELAXED);
	pthread_mutex_destroy(&p.lock);
	if (p.failed) {
		if (err)
			*err = p.err;
		return p.rc;
	}
	return 0;
}
