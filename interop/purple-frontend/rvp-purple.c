/*
 * rvp-purple: a headless libpurple front end that drives one RVP account
 * through Debian's librvp plugin (pidgin-librvp), for interoperability tests.
 *
 * One account per process.  Commands arrive as lines on stdin; every
 * libpurple event of interest leaves as exactly one line on stdout, flushed
 * at once.  The protocol is documented in README.md next to this file.
 *
 * Output lines are "<event> <field>... [<text>]": fields never contain
 * spaces, and the optional last text runs to the end of the line, escaped
 * so that it stays on one line (see put_escaped()).
 *
 * librvp's own chatter (puts, perror, glib's g_print) and libpurple's debug
 * log go to stderr: the event stream owns a private duplicate of the
 * original stdout descriptor.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include <purple.h>

#define UI_ID "rvp-purple"
#define PRPL_ID "prpl-rvp"

/* ------------------------------------------------------------------------ */
/* Settings                                                                  */

static char *opt_user;
static char *opt_password;
static char *opt_plugin_dir;
static char *opt_config_dir;
static char **opt_account_options; /* key=value */
static char **opt_prefs;           /* /pref/path=value */
static int opt_exit_timeout = 10;  /* seconds from logout to forced exit */
static char *opt_initial_status;   /* status id to sign on with */
static gboolean opt_no_login;      /* do not sign on until "login" */

static PurpleAccount *account;
static GMainLoop *main_loop;
static FILE *events;          /* the private event stream */
static int nesting;           /* depth of gtk_main_iteration() calls */
static gboolean exiting;      /* logout or quit in progress */
static GQueue pending_cmds = G_QUEUE_INIT;
static guint cmd_timer;

/* ------------------------------------------------------------------------ */
/* Event output                                                              */

/* Writes text so that it survives as the tail of one line: backslash, control
 * bytes and bytes that are not part of valid UTF-8 become escapes (\\, \n,
 * \r, \t, \xNN); valid UTF-8, including non-ASCII, is written unchanged. */
static void put_escaped(GString *out, const char *text)
{
	const char *p = text;
	const char *end = text + strlen(text);

	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (c == '\\') {
			g_string_append(out, "\\\\");
			p++;
		} else if (c == '\n') {
			g_string_append(out, "\\n");
			p++;
		} else if (c == '\r') {
			g_string_append(out, "\\r");
			p++;
		} else if (c == '\t') {
			g_string_append(out, "\\t");
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			g_string_append_printf(out, "\\x%02x", c);
			p++;
		} else if (c < 0x80) {
			g_string_append_c(out, (char)c);
			p++;
		} else {
			gunichar ch = g_utf8_get_char_validated(p, end - p);
			if (ch == (gunichar)-1 || ch == (gunichar)-2) {
				g_string_append_printf(out, "\\x%02x", c);
				p++;
			} else {
				const char *next = g_utf8_next_char(p);
				g_string_append_len(out, p, next - p);
				p = next;
			}
		}
	}
}

/* Appends a space-free field: spaces and anything escapable become escapes
 * so that field splitting on ' ' stays exact. */
static void put_field(GString *out, const char *field)
{
	GString *tmp = g_string_new(NULL);
	const char *p;

	put_escaped(tmp, field && *field ? field : "-");
	g_string_append_c(out, ' ');
	for (p = tmp->str; *p; p++) {
		if (*p == ' ')
			g_string_append(out, "\\x20");
		else
			g_string_append_c(out, *p);
	}
	g_string_free(tmp, TRUE);
}

/* Emits one event line: name, then nfields space-free fields, then an
 * optional free text (NULL for none). */
static void emit(const char *name, int nfields, const char *text, ...)
{
	GString *line = g_string_new(name);
	va_list ap;
	int i;

	va_start(ap, text);
	for (i = 0; i < nfields; i++)
		put_field(line, va_arg(ap, const char *));
	va_end(ap);
	if (text) {
		g_string_append_c(line, ' ');
		put_escaped(line, text);
	}
	g_string_append_c(line, '\n');
	fputs(line->str, events);
	fflush(events);
	g_string_free(line, TRUE);
}

/* "startup-error <what>[: <detail>]": the process exits with status 2. */
static void startup_error(const char *what, const char *detail)
{
	char *text = detail ? g_strdup_printf("%s: %s", what, detail)
			    : g_strdup(what);

	emit("startup-error", 0, text);
	g_free(text);
}

static void finish(int code, const char *why)
{
	emit("exit", 1, NULL, why);
	fflush(events);
	fflush(stderr);
	_exit(code);
}

/* ------------------------------------------------------------------------ */
/* Exit bound                                                                */

static void on_alarm(int sig)
{
	static const char msg[] = "exit timeout\n";
	ssize_t r;

	(void)sig;
	/* Only async-signal-safe calls here. */
	r = write(fileno(events), msg, sizeof msg - 1);
	(void)r;
	_exit(3);
}

/* Arms the hard bound on the remaining lifetime of the process.  SIGALRM is
 * used rather than a GLib timer because librvp may spin without returning to
 * the main loop. */
static void arm_exit_bound(void)
{
	if (opt_exit_timeout > 0)
		alarm((unsigned)opt_exit_timeout);
}

/* ------------------------------------------------------------------------ */
/* Symbols librvp expects from Pidgin (exported with -rdynamic)              */

int gtk_events_pending(void);
int gtk_main_iteration(void);

/* librvp waits for its own requests (at logout above all) in loops shaped
 *
 *     for (;;) {
 *         if (in_pending_list(req) || done) break;        -- (A)
 *         while (gtk_events_pending()) gtk_main_iteration();
 *     }
 *
 * i.e. it looks at its request only when the main context is idle.  A request
 * stays in the pending list from being sent until its answer is read.  Against
 * a fast server there is always an event pending in that window (the answer
 * itself), (A) never runs while the request is listed, and the loop spins for
 * ever once it is gone.  Two rules give (A) a chance after every step:
 *   - after each gtk_main_iteration(), the next gtk_events_pending() answers
 *     "nothing pending" once, as an idle GTK would between two events;
 *   - inside gtk_main_iteration(), at most one socket callback runs (see
 *     input_dispatch()); other ready sockets stay ready for the next call. */
static gboolean report_idle_once;
static gboolean dispatched_one;

int gtk_events_pending(void)
{
	if (report_idle_once) {
		report_idle_once = FALSE;
		return FALSE;
	}
	return g_main_context_pending(NULL);
}

int gtk_main_iteration(void)
{
	nesting++;
	dispatched_one = FALSE;
	g_main_context_iteration(NULL, TRUE);
	report_idle_once = TRUE;
	nesting--;
	return FALSE; /* gtk_main_quit() was not called */
}

/* ------------------------------------------------------------------------ */
/* Event loop UI ops on the GLib main context                                */

typedef struct {
	PurpleInputFunction func;
	gpointer data;
	int fd;
} InputWatch;

static gboolean input_dispatch(GIOChannel *source, GIOCondition cond,
			       gpointer data)
{
	InputWatch *w = data;
	int pcond = 0;

	(void)source;
	if (nesting > 0) {
		if (dispatched_one)
			return TRUE; /* still ready: runs on the next call */
		dispatched_one = TRUE;
	}
	if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR | G_IO_PRI))
		pcond |= PURPLE_INPUT_READ;
	if (cond & (G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL))
		pcond |= PURPLE_INPUT_WRITE;
	w->func(w->data, w->fd, (PurpleInputCondition)pcond);
	return TRUE;
}

static guint ev_input_add(int fd, PurpleInputCondition cond,
			  PurpleInputFunction func, gpointer data)
{
	InputWatch *w = g_new0(InputWatch, 1);
	GIOCondition gcond = 0;
	GIOChannel *ch;
	guint id;

	w->func = func;
	w->data = data;
	w->fd = fd;
	if (cond & PURPLE_INPUT_READ)
		gcond |= G_IO_IN | G_IO_HUP | G_IO_ERR;
	if (cond & PURPLE_INPUT_WRITE)
		gcond |= G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL;
	ch = g_io_channel_unix_new(fd);
	id = g_io_add_watch_full(ch, G_PRIORITY_DEFAULT, gcond, input_dispatch,
				 w, g_free);
	g_io_channel_unref(ch);
	return id;
}

static gboolean ev_source_remove(guint handle)
{
	return g_source_remove(handle);
}

static PurpleEventLoopUiOps eventloop_ops = {
	.timeout_add = g_timeout_add,
	.timeout_remove = ev_source_remove,
	.input_add = ev_input_add,
	.input_remove = ev_source_remove,
	.input_get_error = NULL,
	.timeout_add_seconds = g_timeout_add_seconds,
};

/* ------------------------------------------------------------------------ */
/* Conversations: system and error lines written into a conversation         */

static void conv_write(PurpleConversation *conv, const char *name,
		       const char *alias, const char *message,
		       PurpleMessageFlags flags, time_t mtime)
{
	const char *who = purple_conversation_get_name(conv);

	(void)name;
	(void)alias;
	(void)mtime;
	if (flags & PURPLE_MESSAGE_ERROR)
		emit("send-failed", 1, message ? message : "", who);
	else if (flags & PURPLE_MESSAGE_SYSTEM)
		emit("conv-system", 1, message ? message : "", who);
}

static PurpleConversationUiOps conv_ops = {
	.write_conv = conv_write,
};

/* ------------------------------------------------------------------------ */
/* Connection progress                                                       */

static void conn_progress(PurpleConnection *gc, const char *text, size_t step,
			  size_t count)
{
	char s[32];

	(void)gc;
	g_snprintf(s, sizeof s, "%zu/%zu", step, count);
	emit("progress", 1, text ? text : "", s);
}

static void conn_notice(PurpleConnection *gc, const char *text)
{
	(void)gc;
	emit("notice", 0, text ? text : "");
}

static PurpleConnectionUiOps conn_ops = {
	.connect_progress = conn_progress,
	.notice = conn_notice,
};

/* ------------------------------------------------------------------------ */
/* Accounts: authorization requests are auto-accepted                        */

static void acct_notify_added(PurpleAccount *a, const char *remote,
			      const char *id, const char *alias,
			      const char *message)
{
	(void)a;
	(void)id;
	(void)alias;
	emit("added-by", 1, message ? message : "", remote);
}

static void acct_request_add(PurpleAccount *a, const char *remote,
			     const char *id, const char *alias,
			     const char *message)
{
	(void)a;
	(void)id;
	(void)alias;
	emit("request-add", 1, message ? message : "", remote);
}

static void *acct_request_authorize(PurpleAccount *a, const char *remote,
				    const char *id, const char *alias,
				    const char *message, gboolean on_list,
				    PurpleAccountRequestAuthorizationCb ok,
				    PurpleAccountRequestAuthorizationCb deny,
				    void *user_data)
{
	(void)a;
	(void)id;
	(void)alias;
	(void)on_list;
	(void)deny;
	emit("auth-request", 1, message ? message : "", remote);
	if (ok)
		ok(user_data);
	return NULL;
}

static PurpleAccountUiOps account_ops = {
	.notify_added = acct_notify_added,
	.request_add = acct_request_add,
	.request_authorize = acct_request_authorize,
};

/* ------------------------------------------------------------------------ */
/* Privacy lists                                                             */

static void priv_permit_added(PurpleAccount *a, const char *name)
{
	(void)a;
	emit("permit-added", 1, NULL, name);
}

static void priv_permit_removed(PurpleAccount *a, const char *name)
{
	(void)a;
	emit("permit-removed", 1, NULL, name);
}

static void priv_deny_added(PurpleAccount *a, const char *name)
{
	(void)a;
	emit("deny-added", 1, NULL, name);
}

static void priv_deny_removed(PurpleAccount *a, const char *name)
{
	(void)a;
	emit("deny-removed", 1, NULL, name);
}

static PurplePrivacyUiOps privacy_ops = {
	.permit_added = priv_permit_added,
	.permit_removed = priv_permit_removed,
	.deny_added = priv_deny_added,
	.deny_removed = priv_deny_removed,
};

/* ------------------------------------------------------------------------ */
/* Notifications                                                             */

static char *join_texts(const char *a, const char *b, const char *c)
{
	GString *s = g_string_new(NULL);
	const char *parts[3] = {a, b, c};
	int i;

	for (i = 0; i < 3; i++) {
		if (!parts[i] || !*parts[i])
			continue;
		if (s->len)
			g_string_append(s, " | ");
		g_string_append(s, parts[i]);
	}
	return g_string_free(s, FALSE);
}

static void *notify_message(PurpleNotifyMsgType type, const char *title,
			    const char *primary, const char *secondary)
{
	const char *kind = type == PURPLE_NOTIFY_MSG_ERROR     ? "error"
			   : type == PURPLE_NOTIFY_MSG_WARNING ? "warning"
							       : "info";
	char *text = join_texts(title, primary, secondary);

	emit("notify", 1, text, kind);
	g_free(text);
	return NULL;
}

static void *notify_formatted(const char *title, const char *primary,
			      const char *secondary, const char *body)
{
	char *head = join_texts(title, primary, secondary);
	char *text = join_texts(head, body, NULL);

	emit("notify", 1, text, "formatted");
	g_free(text);
	g_free(head);
	return NULL;
}

static void *notify_userinfo(PurpleConnection *gc, const char *who,
			     PurpleNotifyUserInfo *info)
{
	char *text = purple_notify_user_info_get_text_with_newline(info, " | ");

	(void)gc;
	emit("userinfo", 1, text ? text : "", who);
	g_free(text);
	return NULL;
}

static void *notify_uri(const char *uri)
{
	emit("notify", 1, uri, "uri");
	return NULL;
}

static PurpleNotifyUiOps notify_ops = {
	.notify_message = notify_message,
	.notify_formatted = notify_formatted,
	.notify_userinfo = notify_userinfo,
	.notify_uri = notify_uri,
};

/* ------------------------------------------------------------------------ */
/* Requests: answered later from the main loop, as a user would              */

typedef enum { ANSWER_INPUT, ANSWER_CHOICE, ANSWER_ACTION, ANSWER_FIELDS,
	       ANSWER_CANCEL } AnswerKind;

typedef struct {
	AnswerKind kind;
	GCallback cb;
	void *user_data;
	char *text;
	int choice;
	PurpleRequestFields *fields;
} Answer;

static gboolean answer_now(gpointer data)
{
	Answer *a = data;

	if (a->cb) {
		switch (a->kind) {
		case ANSWER_INPUT:
			((PurpleRequestInputCb)a->cb)(a->user_data, a->text);
			break;
		case ANSWER_CHOICE:
		case ANSWER_ACTION:
			((PurpleRequestChoiceCb)a->cb)(a->user_data, a->choice);
			break;
		case ANSWER_FIELDS:
			((PurpleRequestFieldsCb)a->cb)(a->user_data, a->fields);
			break;
		case ANSWER_CANCEL:
			((void (*)(void *))a->cb)(a->user_data);
			break;
		}
	}
	g_free(a->text);
	g_free(a);
	return FALSE;
}

static void answer_later(AnswerKind kind, GCallback cb, void *user_data,
			 const char *text, int choice,
			 PurpleRequestFields *fields)
{
	Answer *a = g_new0(Answer, 1);

	a->kind = kind;
	a->cb = cb;
	a->user_data = user_data;
	a->text = g_strdup(text);
	a->choice = choice;
	a->fields = fields;
	g_idle_add(answer_now, a);
}

static void emit_request(const char *kind, const char *who, const char *title,
			 const char *primary, const char *secondary)
{
	char *text = join_texts(title, primary, secondary);

	emit("request", 2, text, kind, who ? who : "-");
	g_free(text);
}

static void *req_input(const char *title, const char *primary,
		       const char *secondary, const char *default_value,
		       gboolean multiline, gboolean masked, gchar *hint,
		       const char *ok_text, GCallback ok_cb,
		       const char *cancel_text, GCallback cancel_cb,
		       PurpleAccount *a, const char *who,
		       PurpleConversation *conv, void *user_data)
{
	(void)multiline;
	(void)masked;
	(void)hint;
	(void)ok_text;
	(void)cancel_text;
	(void)cancel_cb;
	(void)a;
	(void)conv;
	emit_request("input", who, title, primary, secondary);
	answer_later(ANSWER_INPUT, ok_cb, user_data,
		     default_value ? default_value : "", 0, NULL);
	return NULL;
}

static void *req_choice(const char *title, const char *primary,
			const char *secondary, int default_value,
			const char *ok_text, GCallback ok_cb,
			const char *cancel_text, GCallback cancel_cb,
			PurpleAccount *a, const char *who,
			PurpleConversation *conv, void *user_data,
			va_list choices)
{
	(void)ok_text;
	(void)cancel_text;
	(void)cancel_cb;
	(void)a;
	(void)conv;
	(void)choices;
	emit_request("choice", who, title, primary, secondary);
	answer_later(ANSWER_CHOICE, ok_cb, user_data, NULL, default_value,
		     NULL);
	return NULL;
}

static void *req_action(const char *title, const char *primary,
			const char *secondary, int default_action,
			PurpleAccount *a, const char *who,
			PurpleConversation *conv, void *user_data,
			size_t action_count, va_list actions)
{
	GCallback chosen = NULL;
	size_t i;

	(void)a;
	(void)conv;
	for (i = 0; i < action_count; i++) {
		const char *label = va_arg(actions, const char *);
		GCallback cb = va_arg(actions, GCallback);
		(void)label;
		if ((int)i == default_action)
			chosen = cb;
	}
	emit_request("action", who, title, primary, secondary);
	answer_later(ANSWER_ACTION, chosen, user_data, NULL, default_action,
		     NULL);
	return NULL;
}

static void *req_fields(const char *title, const char *primary,
			const char *secondary, PurpleRequestFields *fields,
			const char *ok_text, GCallback ok_cb,
			const char *cancel_text, GCallback cancel_cb,
			PurpleAccount *a, const char *who,
			PurpleConversation *conv, void *user_data)
{
	(void)ok_text;
	(void)cancel_text;
	(void)cancel_cb;
	(void)a;
	(void)conv;
	emit_request("fields", who, title, primary, secondary);
	answer_later(ANSWER_FIELDS, ok_cb, user_data, NULL, 0, fields);
	return NULL;
}

static void *req_file(const char *title, const char *filename,
		      gboolean savedialog, GCallback ok_cb,
		      GCallback cancel_cb, PurpleAccount *a, const char *who,
		      PurpleConversation *conv, void *user_data)
{
	(void)filename;
	(void)savedialog;
	(void)ok_cb;
	(void)a;
	(void)conv;
	/* A headless client takes no files: refuse. */
	emit_request("file", who, title, NULL, NULL);
	answer_later(ANSWER_CANCEL, cancel_cb, user_data, NULL, 0, NULL);
	return NULL;
}

static void req_close(PurpleRequestType type, void *handle)
{
	(void)type;
	(void)handle;
}

static PurpleRequestUiOps request_ops = {
	.request_input = req_input,
	.request_choice = req_choice,
	.request_action = req_action,
	.request_fields = req_fields,
	.request_file = req_file,
	.close_request = req_close,
};

/* ------------------------------------------------------------------------ */
/* Signals                                                                   */

static int signal_handle;

static const char *status_id(PurpleStatus *status)
{
	return status ? purple_status_get_id(status) : "-";
}

static void sig_signing_on(PurpleConnection *gc)
{
	(void)gc;
	emit("signing-on", 0, NULL);
}

static void sig_signed_on(PurpleConnection *gc)
{
	(void)gc;
	emit("signed-on", 0, NULL);
}

static void sig_signing_off(PurpleConnection *gc)
{
	(void)gc;
	emit("signing-off", 0, NULL);
}

static void sig_signed_off(PurpleConnection *gc)
{
	(void)gc;
	emit("signed-off", 0, NULL);
	/* One sign-on per process: after a disconnect, librvp leaves callbacks
	 * behind that dereference the freed connection data (a segfault was
	 * seen after "status offline" with a buddy on the list).  So the
	 * process ends here, whatever the cause of the sign-off. */
	arm_exit_bound();
	g_main_loop_quit(main_loop);
}

static void sig_connection_error(PurpleConnection *gc,
				 PurpleConnectionError err, const char *desc)
{
	char code[16];

	(void)gc;
	g_snprintf(code, sizeof code, "%d", (int)err);
	emit("connection-error", 1, desc ? desc : "", code);
}

static void sig_account_status(PurpleAccount *a, PurpleStatus *old,
			       PurpleStatus *new_status)
{
	(void)a;
	(void)old;
	emit("account-status", 1, NULL, status_id(new_status));
}

static void sig_buddy_status(PurpleBuddy *buddy, PurpleStatus *old,
			     PurpleStatus *new_status)
{
	(void)old;
	emit("buddy-status", 2, NULL, purple_buddy_get_name(buddy),
	     status_id(new_status));
}

static void sig_buddy_signed_on(PurpleBuddy *buddy)
{
	emit("buddy-signed-on", 1, NULL, purple_buddy_get_name(buddy));
}

static void sig_buddy_signed_off(PurpleBuddy *buddy)
{
	emit("buddy-signed-off", 1, NULL, purple_buddy_get_name(buddy));
}

static void sig_received_im(PurpleAccount *a, char *sender, char *message,
			    PurpleConversation *conv, PurpleMessageFlags flags)
{
	(void)a;
	(void)conv;
	(void)flags;
	emit("im", 1, message ? message : "", sender);
}

static void sig_sent_im(PurpleAccount *a, const char *receiver,
			const char *message)
{
	(void)a;
	emit("im-sent", 1, message ? message : "", receiver);
}

static void sig_typing(PurpleAccount *a, const char *name)
{
	(void)a;
	emit("typing", 1, NULL, name);
}

static void sig_typed(PurpleAccount *a, const char *name)
{
	(void)a;
	emit("typed", 1, NULL, name);
}

static void sig_typing_stopped(PurpleAccount *a, const char *name)
{
	(void)a;
	emit("typing-stopped", 1, NULL, name);
}

static void connect_signals(void)
{
	void *h = &signal_handle;

	purple_signal_connect(purple_connections_get_handle(), "signing-on", h,
			      PURPLE_CALLBACK(sig_signing_on), NULL);
	purple_signal_connect(purple_connections_get_handle(), "signed-on", h,
			      PURPLE_CALLBACK(sig_signed_on), NULL);
	purple_signal_connect(purple_connections_get_handle(), "signing-off",
			      h, PURPLE_CALLBACK(sig_signing_off), NULL);
	purple_signal_connect(purple_connections_get_handle(), "signed-off", h,
			      PURPLE_CALLBACK(sig_signed_off), NULL);
	purple_signal_connect(purple_connections_get_handle(),
			      "connection-error", h,
			      PURPLE_CALLBACK(sig_connection_error), NULL);
	purple_signal_connect(purple_accounts_get_handle(),
			      "account-status-changed", h,
			      PURPLE_CALLBACK(sig_account_status), NULL);
	purple_signal_connect(purple_blist_get_handle(),
			      "buddy-status-changed", h,
			      PURPLE_CALLBACK(sig_buddy_status), NULL);
	purple_signal_connect(purple_blist_get_handle(), "buddy-signed-on", h,
			      PURPLE_CALLBACK(sig_buddy_signed_on), NULL);
	purple_signal_connect(purple_blist_get_handle(), "buddy-signed-off", h,
			      PURPLE_CALLBACK(sig_buddy_signed_off), NULL);
	purple_signal_connect(purple_conversations_get_handle(),
			      "received-im-msg", h,
			      PURPLE_CALLBACK(sig_received_im), NULL);
	purple_signal_connect(purple_conversations_get_handle(),
			      "sent-im-msg", h, PURPLE_CALLBACK(sig_sent_im),
			      NULL);
	purple_signal_connect(purple_conversations_get_handle(),
			      "buddy-typing", h, PURPLE_CALLBACK(sig_typing),
			      NULL);
	purple_signal_connect(purple_conversations_get_handle(),
			      "buddy-typed", h, PURPLE_CALLBACK(sig_typed),
			      NULL);
	purple_signal_connect(purple_conversations_get_handle(),
			      "buddy-typing-stopped", h,
			      PURPLE_CALLBACK(sig_typing_stopped), NULL);
}

/* ------------------------------------------------------------------------ */
/* Core UI ops                                                               */

static void ui_init(void)
{
	purple_conversations_set_ui_ops(&conv_ops);
	purple_connections_set_ui_ops(&conn_ops);
	purple_accounts_set_ui_ops(&account_ops);
	purple_privacy_set_ui_ops(&privacy_ops);
	purple_notify_set_ui_ops(&notify_ops);
	purple_request_set_ui_ops(&request_ops);
}


static GHashTable *ui_info;

static GHashTable *get_ui_info(void)
{
	if (!ui_info) {
		ui_info = g_hash_table_new(g_str_hash, g_str_equal);
		g_hash_table_insert(ui_info, "name", "rvp-purple");
		g_hash_table_insert(ui_info, "version", "0.1");
		g_hash_table_insert(ui_info, "client_type", "bot");
	}
	return ui_info;
}

static PurpleCoreUiOps core_ops = {
	.ui_init = ui_init,
	.get_ui_info = get_ui_info,
};

/* ------------------------------------------------------------------------ */
/* Options                                                                   */

static gboolean parse_bool(const char *v)
{
	return g_ascii_strcasecmp(v, "1") == 0 ||
	       g_ascii_strcasecmp(v, "true") == 0 ||
	       g_ascii_strcasecmp(v, "yes") == 0 ||
	       g_ascii_strcasecmp(v, "on") == 0;
}

/* Sets one protocol option of the account, typed from the plugin's own
 * option list.  Returns FALSE (and reports) for unknown keys. */
static gboolean set_account_option(PurplePluginProtocolInfo *info,
				   const char *key, const char *value)
{
	GList *l;

	for (l = info->protocol_options; l; l = l->next) {
		PurpleAccountOption *o = l->data;
		if (strcmp(purple_account_option_get_setting(o), key) != 0)
			continue;
		switch (purple_account_option_get_type(o)) {
		case PURPLE_PREF_BOOLEAN:
			purple_account_set_bool(account, key, parse_bool(value));
			break;
		case PURPLE_PREF_INT:
			purple_account_set_int(account, key, atoi(value));
			break;
		default:
			purple_account_set_string(account, key, value);
			break;
		}
		return TRUE;
	}
	startup_error("unknown account option", key);
	return FALSE;
}

/* Sets one libpurple preference, typed from its registered type. */
static gboolean set_pref(const char *path, const char *value)
{
	if (!purple_prefs_exists(path)) {
		startup_error("unknown preference", path);
		return FALSE;
	}
	switch (purple_prefs_get_type(path)) {
	case PURPLE_PREF_BOOLEAN:
		purple_prefs_set_bool(path, parse_bool(value));
		break;
	case PURPLE_PREF_INT:
		purple_prefs_set_int(path, atoi(value));
		break;
	default:
		purple_prefs_set_string(path, value);
		break;
	}
	return TRUE;
}

static void list_account_options(PurplePluginProtocolInfo *info)
{
	GList *l;

	for (l = info->protocol_options; l; l = l->next) {
		PurpleAccountOption *o = l->data;
		const char *type;
		switch (purple_account_option_get_type(o)) {
		case PURPLE_PREF_BOOLEAN:
			type = "bool";
			break;
		case PURPLE_PREF_INT:
			type = "int";
			break;
		default:
			type = "string";
			break;
		}
		fprintf(stderr, "rvp-purple: account option %s (%s): %s\n",
			purple_account_option_get_setting(o), type,
			purple_account_option_get_text(o));
	}
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                  */

/* Undoes put_escaped() for command arguments: \\, \n, \r, \t, \xNN. */
static char *unescape(const char *s)
{
	GString *out = g_string_new(NULL);

	while (*s) {
		if (s[0] == '\\' && s[1]) {
			switch (s[1]) {
			case 'n':
				g_string_append_c(out, '\n');
				s += 2;
				continue;
			case 'r':
				g_string_append_c(out, '\r');
				s += 2;
				continue;
			case 't':
				g_string_append_c(out, '\t');
				s += 2;
				continue;
			case '\\':
				g_string_append_c(out, '\\');
				s += 2;
				continue;
			case 'x':
				if (g_ascii_isxdigit(s[2]) &&
				    g_ascii_isxdigit(s[3])) {
					g_string_append_c(
						out,
						(char)(g_ascii_xdigit_value(s[2]) * 16 +
						       g_ascii_xdigit_value(s[3])));
					s += 4;
					continue;
				}
				break;
			default:
				break;
			}
		}
		g_string_append_c(out, *s++);
	}
	return g_string_free(out, FALSE);
}

static PurpleConnection *connection_or_error(const char *verb)
{
	PurpleConnection *gc = purple_account_get_connection(account);

	if (!gc || purple_connection_get_state(gc) != PURPLE_CONNECTED) {
		emit("error", 1, "not signed on", verb);
		return NULL;
	}
	return gc;
}

static void begin_logout(void)
{
	exiting = TRUE;
	arm_exit_bound();
	if (purple_account_is_connected(account) ||
	    purple_account_is_connecting(account)) {
		/* Disabling the account disconnects it (librvp sends its
		 * UNSUBSCRIBE, the offline PROPPATCH and an ACL). */
		purple_account_set_enabled(account, UI_ID, FALSE);
		if (!purple_account_is_disconnected(account))
			purple_account_disconnect(account);
		/* Aborting a sign-on emits no "signed-off": stop here too. */
		if (purple_account_is_disconnected(account))
			g_main_loop_quit(main_loop);
	} else {
		g_main_loop_quit(main_loop);
	}
}

static void sign_on(void)
{
	/* Choose an online status while the account is still disabled (no
	 * side effects), then enabling it connects. */
	purple_account_set_status(account,
				  opt_initial_status ? opt_initial_status
						     : "online",
				  TRUE, NULL);
	purple_account_set_enabled(account, UI_ID, TRUE);
	if (!purple_account_is_connected(account) &&
	    !purple_account_is_connecting(account))
		purple_account_connect(account);
}

static void run_command(const char *line)
{
	char **parts = g_strsplit(line, " ", 3);
	const char *verb = parts[0] ? parts[0] : "";
	const char *arg1 = parts[0] && parts[1] ? parts[1] : NULL;
	const char *rest = arg1 && parts[2] ? parts[2] : NULL;
	PurpleConnection *gc;

	if (*verb == '\0' || *verb == '#') {
		/* blank line or comment */
	} else if (strcmp(verb, "ping") == 0) {
		/* echoes everything after "ping " */
		emit("pong", 0, line[4] == ' ' ? line + 5 : NULL);
	} else if (strcmp(verb, "login") == 0) {
		sign_on();
		emit("ok", 1, NULL, verb);
	} else if (strcmp(verb, "status") == 0 && arg1) {
		PurpleStatusType *t =
			purple_account_get_status_type(account, arg1);
		if (!t) {
			emit("error", 1, "unknown status id", verb);
		} else {
			char *msg = rest ? unescape(rest) : NULL;
			if (msg && purple_status_type_get_attr(t, "message"))
				purple_account_set_status(account, arg1, TRUE,
							  "message", msg,
							  NULL);
			else
				purple_account_set_status(account, arg1, TRUE,
							  NULL);
			g_free(msg);
			emit("ok", 1, NULL, verb);
		}
	} else if (strcmp(verb, "im") == 0 && arg1 && rest) {
		if ((gc = connection_or_error(verb))) {
			char *text = unescape(rest);
			PurpleConversation *conv =
				purple_find_conversation_with_account(
					PURPLE_CONV_TYPE_IM, arg1, account);
			if (!conv)
				conv = purple_conversation_new(
					PURPLE_CONV_TYPE_IM, account, arg1);
			purple_conv_im_send(PURPLE_CONV_IM(conv), text);
			g_free(text);
			emit("ok", 1, NULL, verb);
		}
	} else if ((strcmp(verb, "typing") == 0 ||
		    strcmp(verb, "typing-stop") == 0) && arg1) {
		if ((gc = connection_or_error(verb))) {
			serv_send_typing(gc, arg1,
					 verb[6] ? PURPLE_NOT_TYPING
						 : PURPLE_TYPING);
			emit("ok", 1, NULL, verb);
		}
	} else if (strcmp(verb, "add") == 0 && arg1) {
		PurpleGroup *group = purple_find_group("Buddies");
		PurpleBuddy *buddy;
		if (!group) {
			group = purple_group_new("Buddies");
			purple_blist_add_group(group, NULL);
		}
		buddy = purple_find_buddy(account, arg1);
		if (!buddy) {
			buddy = purple_buddy_new(account, arg1, rest);
			purple_blist_add_buddy(buddy, NULL, group, NULL);
		}
		purple_account_add_buddy(account, buddy);
		emit("ok", 1, NULL, verb);
	} else if (strcmp(verb, "remove") == 0 && arg1) {
		PurpleBuddy *buddy = purple_find_buddy(account, arg1);
		if (!buddy) {
			emit("error", 1, "no such buddy", verb);
		} else {
			purple_account_remove_buddy(account, buddy,
						    purple_buddy_get_group(buddy));
			purple_blist_remove_buddy(buddy);
			emit("ok", 1, NULL, verb);
		}
	} else if (strcmp(verb, "deny") == 0 && arg1) {
		/* Keep the two lists disjoint locally; the plugin writes one
		 * ACE per user, so only the new setting goes to the server. */
		purple_privacy_permit_remove(account, arg1, TRUE);
		purple_privacy_deny_add(account, arg1, FALSE);
		emit("ok", 1, NULL, verb);
	} else if (strcmp(verb, "permit") == 0 && arg1) {
		purple_privacy_deny_remove(account, arg1, TRUE);
		purple_privacy_permit_add(account, arg1, FALSE);
		emit("ok", 1, NULL, verb);
	} else if (strcmp(verb, "undeny") == 0 && arg1) {
		purple_privacy_deny_remove(account, arg1, FALSE);
		emit("ok", 1, NULL, verb);
	} else if (strcmp(verb, "unpermit") == 0 && arg1) {
		purple_privacy_permit_remove(account, arg1, FALSE);
		emit("ok", 1, NULL, verb);
	} else if (strcmp(verb, "query") == 0 && arg1) {
		PurpleBuddy *buddy = purple_find_buddy(account, arg1);
		if (!buddy) {
			emit("error", 1, "no such buddy", verb);
		} else {
			PurpleStatus *st = purple_presence_get_active_status(
				purple_buddy_get_presence(buddy));
			emit("buddy-status", 2, NULL, arg1, status_id(st));
		}
	} else if (strcmp(verb, "logout") == 0) {
		emit("ok", 1, NULL, verb);
		begin_logout();
	} else if (strcmp(verb, "quit") == 0) {
		finish(0, "quit");
	} else {
		emit("error", 1, "unknown command or missing argument",
		     verb);
	}
	g_strfreev(parts);
}

/* Runs queued commands, but never from inside librvp's nested loop (the
 * plugin does not expect re-entry while it waits for its own requests). */
static gboolean drain_commands(gpointer data)
{
	(void)data;
	if (nesting > 0)
		return TRUE; /* try again on the next tick */
	while (!g_queue_is_empty(&pending_cmds) && !exiting) {
		char *line = g_queue_pop_head(&pending_cmds);
		run_command(line);
		g_free(line);
		if (nesting > 0)
			return TRUE;
	}
	cmd_timer = 0;
	return FALSE;
}

static void schedule_commands(void)
{
	if (!cmd_timer)
		cmd_timer = g_timeout_add(10, drain_commands, NULL);
}

static GString *stdin_buf;

static gboolean stdin_ready(GIOChannel *ch, GIOCondition cond, gpointer data)
{
	char buf[4096];
	ssize_t n;
	char *nl;

	(void)ch;
	(void)cond;
	(void)data;
	n = read(STDIN_FILENO, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return TRUE;
	if (n <= 0) {
		/* End of input: sign off as "logout" would. */
		g_queue_push_tail(&pending_cmds, g_strdup("logout"));
		schedule_commands();
		return FALSE;
	}
	g_string_append_len(stdin_buf, buf, n);
	while ((nl = memchr(stdin_buf->str, '\n', stdin_buf->len))) {
		size_t len = (size_t)(nl - stdin_buf->str);
		char *line = g_strndup(stdin_buf->str, len);
		g_strchomp(line); /* tolerate CRLF and trailing blanks */
		g_queue_push_tail(&pending_cmds, line);
		g_string_erase(stdin_buf, 0, (gssize)len + 1);
	}
	schedule_commands();
	return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Main                                                                      */

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

int main(int argc, char **argv)
{
	GOptionEntry entries[] = {
		{"user", 'u', 0, G_OPTION_ARG_STRING, &opt_user,
		 "sign-in name user@domain (env RVP_PURPLE_USER)", "NAME"},
		{"password", 'w', 0, G_OPTION_ARG_STRING, &opt_password,
		 "password (env RVP_PURPLE_PASSWORD)", "PW"},
		{"plugin-dir", 'd', 0, G_OPTION_ARG_FILENAME, &opt_plugin_dir,
		 "folder holding librvp.so (env RVP_PURPLE_PLUGIN_DIR)",
		 "DIR"},
		{"config-dir", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config_dir,
		 "libpurple config folder, fresh per run "
		 "(env RVP_PURPLE_CONFIG_DIR; default: a new temp folder)",
		 "DIR"},
		{"option", 'o', 0, G_OPTION_ARG_STRING_ARRAY,
		 &opt_account_options,
		 "account option key=value (repeatable; defaults "
		 "myhost=127.0.0.1 no_upnp_nat=true)", "KEY=VALUE"},
		{"pref", 'p', 0, G_OPTION_ARG_STRING_ARRAY, &opt_prefs,
		 "libpurple preference /path=value (repeatable), e.g. "
		 "/plugins/prpl/rvp/timeout=10", "PATH=VALUE"},
		{"exit-timeout", 't', 0, G_OPTION_ARG_INT, &opt_exit_timeout,
		 "seconds from logout to forced exit (default 10)", "SECS"},
		{"status", 's', 0, G_OPTION_ARG_STRING, &opt_initial_status,
		 "status id to sign on with (default online)", "ID"},
		{"no-login", 'n', 0, G_OPTION_ARG_NONE, &opt_no_login,
		 "wait for the login command before signing on", NULL},
		{NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	GOptionContext *ctx;
	GError *err = NULL;
	PurplePlugin *prpl;
	PurplePluginProtocolInfo *info;
	GIOChannel *in;
	char **kv;
	int out_fd;

	/* The event stream gets its own copy of stdout; fd 1 then points at
	 * stderr so that anything else printing to stdout cannot corrupt it. */
	out_fd = dup(STDOUT_FILENO);
	if (out_fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
		perror("rvp-purple: dup");
		return 2;
	}
	events = fdopen(out_fd, "w");
	if (!events) {
		perror("rvp-purple: fdopen");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);

	ctx = g_option_context_new("- headless libpurple front end for librvp");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		startup_error(err->message, NULL);
		return 2;
	}
	g_option_context_free(ctx);

	if (!opt_user)
		opt_user = g_strdup(env_or("RVP_PURPLE_USER", NULL));
	if (!opt_password)
		opt_password = g_strdup(env_or("RVP_PURPLE_PASSWORD", NULL));
	if (!opt_plugin_dir)
		opt_plugin_dir = g_strdup(env_or("RVP_PURPLE_PLUGIN_DIR", NULL));
	if (!opt_config_dir)
		opt_config_dir = g_strdup(env_or("RVP_PURPLE_CONFIG_DIR", NULL));
	if (!opt_user || !strchr(opt_user, '@')) {
		startup_error("--user user@domain is required", NULL);
		return 2;
	}
	if (!opt_plugin_dir) {
		startup_error("--plugin-dir is required", NULL);
		return 2;
	}
	if (!opt_config_dir) {
		opt_config_dir = g_dir_make_tmp("rvp-purple-XXXXXX", &err);
		if (!opt_config_dir) {
			startup_error(err->message, NULL);
			return 2;
		}
	}

	purple_util_set_user_dir(opt_config_dir);
	purple_debug_set_enabled(getenv("PURPLE_DEBUG") != NULL);
	purple_core_set_ui_ops(&core_ops);
	purple_eventloop_set_ui_ops(&eventloop_ops);
	purple_plugins_add_search_path(opt_plugin_dir);
	main_loop = g_main_loop_new(NULL, FALSE);

	if (!purple_core_init(UI_ID)) {
		startup_error("libpurple initialisation failed", NULL);
		return 2;
	}
	purple_set_blist(purple_blist_new());
	purple_blist_load();
	purple_prefs_load();
	connect_signals();

	prpl = purple_find_prpl(PRPL_ID);
	if (!prpl) {
		startup_error("protocol plugin not found in plugin dir",
			      PRPL_ID);
		return 2;
	}
	info = PURPLE_PLUGIN_PROTOCOL_INFO(prpl);
	if (purple_debug_is_enabled())
		list_account_options(info);

	account = purple_account_new(opt_user, PRPL_ID);
	if (opt_password)
		purple_account_set_password(account, opt_password);
	/* Remembered (in the throw-away config folder) so that signing on
	 * again after "status offline" needs no password prompt. */
	purple_account_set_remember_password(account, TRUE);
	purple_accounts_add(account);
	set_account_option(info, "myhost", "127.0.0.1");
	set_account_option(info, "no_upnp_nat", "true");
	for (kv = opt_account_options; kv && *kv; kv++) {
		char *eq = strchr(*kv, '=');
		if (!eq) {
			startup_error("option needs key=value", *kv);
			return 2;
		}
		*eq = '\0';
		if (!set_account_option(info, *kv, eq + 1))
			return 2;
	}
	for (kv = opt_prefs; kv && *kv; kv++) {
		char *eq = strchr(*kv, '=');
		if (!eq) {
			startup_error("pref needs path=value", *kv);
			return 2;
		}
		*eq = '\0';
		if (!set_pref(*kv, eq + 1))
			return 2;
	}

	stdin_buf = g_string_new(NULL);
	in = g_io_channel_unix_new(STDIN_FILENO);
	g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_ready, NULL);
	g_io_channel_unref(in);

	emit("ready", 2, NULL, opt_user, opt_config_dir);
	if (!opt_no_login)
		sign_on();

	g_main_loop_run(main_loop);

	/* Signed off: by "logout", end of input, "status offline" or an error. */
	finish(0, exiting ? "logout" : "signed-off");
	return 0;
}
