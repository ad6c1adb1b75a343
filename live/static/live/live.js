// Live updates client: see docs/live-dom.md for the page contract and
// docs/live-updates.md for the stream. Plain JS, no framework, no build step:
// one file the pages load as it is, longer than most for that reason.
//
// One EventSource per page, managed by hand: a browser gives up for good on a
// non-200 answer, and a recreated EventSource sends no Last-Event-ID, so on any
// error we close it and open a new one whose URL carries after_id = our cursor.
// While the stream is down (or disabled) the page polls its htmx partials.
(function () {
  "use strict";

  var BACKOFF_MIN = 1000, BACKOFF_MAX = 30000;
  var POLL_EVERY = 5000;
  var IDLE_AFTER = 60000; // no new data for this long: "idle"
  var DEFAULT_KEEPALIVE = 25000; // the server says its own in the first status event
  var SKIPPED_KEY = "goknut-live-skipped"; // what a fallback reload skipped (sessionStorage)
  var LABELS = {
    connecting: "Connecting…",
    connected: "Live",
    idle: "Live · quiet for a while",
    reconnecting: "Connection lost · reconnecting…",
    polling: "Live updates by polling",
    unavailable: "Archive unavailable · retrying…",
    error: "Live updates unavailable · reload the page"
  };

  function Live(root) {
    this.root = root;
    this.url = root.getAttribute("data-live-url");
    this.cursor = parseInt(root.getAttribute("data-live-cursor") || "0", 10) || 0;
    this.status = root.querySelector("[data-live-status]");
    this.source = null;
    this.failures = 0;
    this.timers = {};
    this.keepalive = DEFAULT_KEEPALIVE;
    this.lastEventAt = 0;
    this.lastDataAt = Date.now();
    this.pending = [];
    this.polling = false;
    this.opened = false;
  }

  Live.prototype.start = function () {
    this.showSkipped();
    if (this.url) {
      this.connect();
    } else {
      this.setState("polling");
      this.startPolling();
    }
    var self = this;
    this.timers.watch = setInterval(function () { self.watch(); }, 1000);
  };

  Live.prototype.stop = function () {
    if (this.source) this.source.close();
    this.source = null;
    for (var name in this.timers) { clearTimeout(this.timers[name]); clearInterval(this.timers[name]); }
    this.timers = {};
    this.polling = false;
  };

  // -- the stream -------------------------------------------------------------

  Live.prototype.streamUrl = function () {
    var url = new URL(this.url, window.location.href);
    url.searchParams.set("after_id", String(this.cursor));
    return url.toString();
  };

  Live.prototype.connect = function () {
    var self = this;
    if (this.source) this.source.close();
    if (this.state !== "polling") this.setState(this.failures ? "reconnecting" : "connecting");
    var source = new EventSource(this.streamUrl());
    this.source = source;
    this.lastEventAt = Date.now();
    source.onopen = function () {
      self.opened = true;
      self.failures = 0;
      self.lastEventAt = Date.now();
      self.stopPolling();
      self.setState("connected");
    };
    source.onerror = function () { if (self.source === source) self.lost(); };
    ["message", "moderation", "erased", "metrics", "channel_count", "user_count", "user_profile", "status"].forEach(function (type) {
      source.addEventListener(type, function (event) { if (self.source === source) self.receive(type, event); });
    });
  };

  Live.prototype.lost = function () {
    var self = this;
    if (this.source) this.source.close();
    this.source = null;
    this.failures += 1;
    // Within a second of the drop the status says so; after a second failure
    // (or a first connect that failed) the page polls until the stream is back.
    if (this.failures >= 2 || !this.opened) this.startPolling();
    if (!this.polling) this.setState("reconnecting");
    var delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, this.failures - 1));
    delay = delay / 2 + Math.random() * delay / 2; // jitter: clients do not return in step
    clearTimeout(this.timers.reconnect);
    this.timers.reconnect = setTimeout(function () { self.connect(); }, delay);
  };

  Live.prototype.watch = function () {
    var now = Date.now();
    // Keep-alives arrive as events; two missed periods means a dead stream.
    if (this.source && this.state !== "connecting" && now - this.lastEventAt > 2 * this.keepalive + 1000) {
      this.lost();
      return;
    }
    if (this.state === "connected" && now - this.lastDataAt > IDLE_AFTER) this.setState("idle");
  };

  Live.prototype.receive = function (type, event) {
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    this.lastEventAt = Date.now();
    if (type === "status") {
      if (data.keepalive_ms) this.keepalive = data.keepalive_ms;
      if (data.ingest) this.setIngest(data.ingest);
      if (data.state === "fallback") { this.rememberSkipped(data); window.location.reload(); return; }
      // The server's database is down: the stream stays open and says when it is back.
      if (data.state === "error") { this.setState(data.reason === "database-unavailable" ? "unavailable" : "error"); return; }
      if (/^(connecting|reconnecting|polling|unavailable)$/.test(this.state)) this.setState("connected");
    } else {
      this.lastDataAt = Date.now();
      if (this.state !== "connected") this.setState("connected");
      if (type === "message" || type === "moderation") this.queueMessage(data);
      else if (type === "erased") removeErased(this.root, data);
      else this.applyCounts(type, data);
      // Other scripts of the page follow the stream too (static/js/charts.js).
      this.root.dispatchEvent(new CustomEvent("goknut:live", { bubbles: true, detail: { type: type, data: data } }));
    }
    // Every event of a stream follows all events up to its cursor (the server
    // guarantees it), so resuming from the highest cursor seen loses nothing.
    if (typeof data.cursor === "number" && data.cursor > this.cursor) this.setCursor(data.cursor);
  };

  Live.prototype.setCursor = function (cursor) {
    this.cursor = cursor;
    this.root.setAttribute("data-live-cursor", String(cursor));
  };

  // -- messages -------------------------------------------------------------

  Live.prototype.queueMessage = function (data) {
    var self = this;
    this.pending.push(data);
    // One DOM update per frame, however many events arrived in it.
    if (!this.timers.frame) this.timers.frame = requestAnimationFrame(function () {
      self.timers.frame = null;
      var batch = self.pending;
      self.pending = [];
      var lists = self.root.querySelectorAll("[data-live-list='messages']");
      for (var i = 0; i < lists.length; i++) {
        // Only the newest `cap` can stay on screen: render just those, in one parse.
        insertRows(lists[i], rowsFromEvents(lists[i], batch.slice(-capOf(lists[i]))));
      }
      // A deletion marks the deleted row, a timeout, ban or clear greys the
      // lines it covers: as a fresh load shows them (pages.mark_moderated).
      batch.forEach(function (data) {
        if (data.type !== "moderation") return;
        if (data.action === "deleted") {
          if (data.target_message_id) markDeleted(self.root, data.target_message_id, String(data.sent_at));
        } else {
          markModerated(self.root, data.channel_name, data.action === "clear" ? null : data.target_user, Number(data.id));
        }
      });
    });
  };

  // An opted-out user (or channel) was erased: their rows go from the open
  // page, as they are gone from a fresh load.
  function removeErased(root, data) {
    var rows = root.querySelectorAll("[data-live-list] > [data-id]");
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var gone = data.login
        ? row.getAttribute("data-user") === data.login || row.getAttribute("data-target-user") === data.login
        : (row.querySelector(".msg-channel") || {}).textContent === "#" + data.channel_name;
      if (gone) row.parentNode.removeChild(row);
    }
  }

  function capOf(list) { return parseInt(list.getAttribute("data-cap") || "500", 10) || 500; }

  function rowsFromEvents(list, batch) {
    var urls = {
      channel: list.getAttribute("data-channel-url") || "/channels/{}",
      user: list.getAttribute("data-user-url") || "/users/{}",
      badge: list.getAttribute("data-badge-url") || "/static/badges/{}.svg",
      emoteImages: list.hasAttribute("data-emote-images")
    };
    var template = document.createElement("template");
    template.innerHTML = batch.map(function (data) { return rowHtml(data, urls); }).join("");
    return Array.prototype.slice.call(template.content.children);
  }

  // The twin of message_row() in messages_app/templatetags/goknut.py: the same
  // <li> from a `message` event's fields. Every string from chat is escaped
  // here; tests/browser/test_live_rows.py checks both build the same DOM.
  var ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#x27;" };
  var HEX_COLOR = /^#[0-9a-f]{6}$/i;

  function esc(value) {
    return String(value).replace(/[&<>"']/g, function (c) { return ESCAPES[c]; });
  }

  // Python's quote(name, safe=""): encodeURIComponent leaves !'()* as they are.
  function quoteName(name) {
    return encodeURIComponent(name).replace(/[!'()*]/g, function (c) {
      return "%" + c.charCodeAt(0).toString(16).toUpperCase();
    });
  }

  function utcTime(iso) {
    var day = iso.slice(0, 10), clock = iso.slice(11, 19);
    return '<time datetime="' + esc(day + "T" + clock + "Z") + '" title="' + esc(day + " " + clock + " UTC") +
      '">' + esc(day + " " + clock.slice(0, 5)) + "</time>";
  }

  function rowStart(data, urls, classes, extra) {
    var id = Number(data.id);
    var channelHref = esc(urls.channel.replace("{}", quoteName(data.channel_name)));
    return '<li class="' + classes + '" id="message-' + id + '" data-id="' + id + '"' + extra + ">" +
      '<a class="msg-time" href="' + channelHref + "?before=" + (id + 1) + '" title="Show in context">' +
      utcTime(String(data.sent_at)) + "</a> " +
      '<a class="msg-channel" href="' + channelHref + '">#' + esc(data.channel_name) + "</a> ";
  }

  function userLink(urls, username, label, style) {
    return '<a class="msg-user" href="' + esc(urls.user.replace("{}", quoteName(username))) + '"' + (style || "") +
      ">" + nameHtml(label, username) + "</a>";
  }

  // -- emotes, badges, links, names: the twins of messages_app/chat_render.py --
  // The server parses the emotes and badges tags into the event (live/events.py);
  // here they are only placed. Emote ranges count code points (Array.from), as
  // Python's str does, not UTF-16 units.

  var EMOTE_CDN = "https://static-cdn.jtvnw.net/emoticons/v2/";
  var LINK_REL = "nofollow noopener ugc";
  // The twin of chat_render.URL_PATTERN: ASCII only, so both engines match alike.
  var URL_CHARS = "[A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=%]";
  var URL_HOST = "[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*";
  var URL_PATTERN = new RegExp("(?<![A-Za-z0-9@._/:-])(?:" +
    "https?://" + URL_HOST + "(?::[0-9]{1,5})?(?:[/?#]" + URL_CHARS + "*)?" +
    "|www\\.[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+(?:[/?#]" + URL_CHARS + "*)?" +
    "|" + URL_HOST + "\\.[A-Za-z]{2,24}/" + URL_CHARS + "*)", "gi");

  function countOf(text, c) { return text.split(c).length - 1; }

  function trimUrl(url) {
    while (url) {
      var last = url.charAt(url.length - 1);
      if (".,!?;:'*".indexOf(last) === -1 && !(last === ")" && countOf(url, "(") < countOf(url, ")"))) break;
      url = url.slice(0, -1);
    }
    return url;
  }

  function linkHref(url) { return /^https?:\/\//i.test(url) ? url : "https://" + url; }

  // Text without emotes: escaped, its URLs as links.
  function plainHtml(piece) {
    var out = "", at = 0, match;
    URL_PATTERN.lastIndex = 0;
    while ((match = URL_PATTERN.exec(piece)) !== null) {
      var url = trimUrl(match[0]);
      out += esc(piece.slice(at, match.index)) + '<a href="' + esc(linkHref(url)) + '" rel="' + LINK_REL + '">' +
        esc(url) + "</a>";
      at = match.index + url.length;
    }
    return out + esc(piece.slice(at));
  }

  function emoteHtml(id, name, images) {
    name = esc(name);
    if (!images) return '<span class="emote emote-name">' + name + "</span>";
    var base = EMOTE_CDN + esc(id) + "/default/";
    return '<picture class="emote"><source media="(prefers-color-scheme: dark)" srcset="' + base + 'dark/1.0">' +
      '<img src="' + base + 'light/1.0" alt="' + name + '" title="' + name + '" loading="lazy" ' +
      'referrerpolicy="no-referrer"></picture>';
  }

  function textHtml(text, emotes, images) {
    text = String(text || "");
    if (!emotes || !emotes.length) return plainHtml(text);
    var chars = Array.from(text), out = "", at = 0;
    emotes.forEach(function (emote) {
      var start = emote[1], end = emote[2];
      if (!(start >= at && end >= start && end < chars.length)) return; // the server sends none such
      if (start > at) out += plainHtml(chars.slice(at, start).join(""));
      out += emoteHtml(String(emote[0]), chars.slice(start, end + 1).join(""), images);
      at = end + 1;
    });
    return at < chars.length ? out + plainHtml(chars.slice(at).join("")) : out;
  }

  function badgesHtml(badges, pattern) {
    if (!badges || !badges.length) return "";
    return '<span class="msg-badges">' + badges.map(function (badge) {
      var title = esc(badge[1]);
      return '<img class="msg-badge" src="' + esc(pattern.replace("{}", badge[0])) + '" alt="' + title +
        '" title="' + title + '" width="18" height="18">';
    }).join("") + "</span> ";
  }

  // "DisplayName (login)" unless the display name is the login in another
  // (ASCII) case: chat_render.shows_login.
  function nameHtml(label, login) {
    var shows = !!label && !(/^[\x00-\x7f]*$/.test(label) && label.toLowerCase() === login);
    return esc(label || login) + (shows ? ' <span class="msg-login">(' + esc(login) + ")</span>" : "");
  }

  function deletedNote(iso) {
    return ' <span class="msg-deleted-note">deleted by a moderator ' + utcTime(iso) + "</span>";
  }

  // The twin of duration_text(): the largest unit that divides the duration.
  function durationText(seconds) {
    var units = [["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][1] && seconds % units[i][1] === 0) {
        var count = seconds / units[i][1];
        return count + " " + units[i][0] + (count !== 1 ? "s" : "");
      }
    }
    return seconds + " second" + (seconds !== 1 ? "s" : "");
  }

  function rowHtml(data, urls) {
    if (data.type === "moderation") return moderationHtml(data, urls);
    var action = !!data.is_action, notice = data.kind === "usernotice";
    var classes = "msg" + (action ? " msg-action" : "") + (notice ? " msg-notice" : "");
    var body = notice ? '<span class="msg-system">' + esc(data.system_text || "") + "</span>" : "";
    if (!notice || data.text) {
      var colors = data.name_colors;
      var style = colors && HEX_COLOR.test(colors[0]) && HEX_COLOR.test(colors[1])
        ? ' style="--name-light:' + colors[0] + ";--name-dark:" + colors[1] + '"' : "";
      body += (body ? " " : "") + badgesHtml(data.badges, urls.badge) +
        userLink(urls, data.username, data.display_name, style) +
        '<span class="msg-sep" aria-hidden="true">' + (action ? " " : ":") + "</span> " +
        '<span class="msg-text">' + textHtml(data.text, data.emotes, urls.emoteImages) + "</span>";
    }
    if (data.deleted_at) {
      classes += " msg-deleted";
      body += deletedNote(String(data.deleted_at));
    }
    var twitch = data.twitch_id ? ' data-twitch-id="' + esc(data.twitch_id) + '"' : "";
    return rowStart(data, urls, classes, twitch + ' data-user="' + esc(data.username) + '"') + body + "</li>\n";
  }

  // The twin of _moderation_row(): a timeout, ban, clear or deletion as a log line.
  function moderationHtml(data, urls) {
    var what, action;
    if (!data.target_user) {
      what = "The chat was cleared by a moderator";
      action = ' data-action="clear"';
    } else {
      var who = userLink(urls, data.target_user, data.target_display_name);
      var target = ' data-target-user="' + esc(data.target_user) + '"';
      if (data.action === "deleted") {
        what = "A message by " + who + " was deleted by a moderator";
        action = ' data-action="deleted"' + target + ' data-target-message="' + esc(data.target_message_id || "") + '"';
      } else if (data.duration_s) {
        what = who + " was timed out for " + durationText(Number(data.duration_s));
        action = ' data-action="timeout"' + target;
      } else {
        what = who + " was banned";
        action = ' data-action="ban"' + target;
      }
    }
    return rowStart(data, urls, "msg msg-mod", action) + '<span class="msg-system">' + what + "</span></li>\n";
  }

  // A moderation row that arrived by polling: apply it to the rows already shown.
  function applyModerationRow(root, row) {
    var action = row.getAttribute("data-action");
    var link = row.querySelector(".msg-channel");
    var time = row.querySelector("time");
    if (!action || !link) return;
    if (action === "deleted") {
      var target = row.getAttribute("data-target-message");
      if (target && time) markDeleted(root, target, time.getAttribute("datetime"));
    } else {
      markModerated(root, link.textContent.slice(1), action === "clear" ? null : row.getAttribute("data-target-user"), idOf(row));
    }
  }

  function markModerated(root, channel, user, before) {
    var rows = root.querySelectorAll("[data-live-list] > [data-user]");
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      if (idOf(row) >= before || (user !== null && row.getAttribute("data-user") !== user)) continue;
      var link = row.querySelector(".msg-channel");
      if (link && link.textContent === "#" + channel) addFlag(row, "msg-moderated");
    }
  }

  // Row classes in the order message_row() writes them, whatever order the
  // events that set them came in.
  var ROW_CLASSES = ["msg", "msg-action", "msg-notice", "msg-deleted", "msg-moderated"];

  function addFlag(row, name) {
    row.classList.add(name);
    var others = Array.prototype.filter.call(row.classList, function (c) { return ROW_CLASSES.indexOf(c) === -1; });
    row.className = ROW_CLASSES.filter(function (c) { return row.classList.contains(c); }).concat(others).join(" ");
  }

  function markDeleted(root, twitchId, iso) {
    var rows = root.querySelectorAll("[data-live-list] > [data-twitch-id]");
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      if (row.getAttribute("data-twitch-id") !== twitchId || row.classList.contains("msg-deleted")) continue;
      addFlag(row, "msg-deleted");
      var list = row.parentNode;
      var text = row.querySelector(".msg-text");
      if (text && list && list.hasAttribute("data-hide-deleted-text")) text.textContent = "";
      row.insertAdjacentHTML("beforeend", deletedNote(iso));
    }
  }

  function idOf(el) { return parseInt(el.getAttribute("data-id"), 10) || 0; }

  // Insert rows (any order) into a list without duplicates, keep its order, trim to data-cap.
  function insertRows(list, rows) {
    var newestFirst = list.getAttribute("data-order") !== "oldest-first";
    var cap = capOf(list);
    var present = {};
    var children = list.querySelectorAll(":scope > [data-id]");
    for (var i = 0; i < children.length; i++) present[idOf(children[i])] = true;
    rows = rows.filter(function (row) {
      var id = idOf(row);
      if (!id || present[id]) return false;
      present[id] = true;
      return true;
    }).sort(function (a, b) { return idOf(a) - idOf(b); });
    if (!rows.length) return;
    if (rows.length > cap) rows = rows.slice(rows.length - cap);
    var edge = newestFirst ? list.firstElementChild : list.lastElementChild;
    if (!edge || idOf(edge) < idOf(rows[0])) {
      // The usual case: everything is newer than what is shown; one insertion.
      var fragment = document.createDocumentFragment();
      for (var k = 0; k < rows.length; k++) fragment.appendChild(rows[newestFirst ? rows.length - 1 - k : k]);
      if (newestFirst) list.insertBefore(fragment, list.firstChild);
      else list.appendChild(fragment);
    } else {
      rows.forEach(function (row) {
        var id = idOf(row), next;
        if (newestFirst) {
          next = list.firstElementChild;
          while (next && idOf(next) > id) next = next.nextElementSibling;
        } else {
          var after = list.lastElementChild;
          while (after && idOf(after) > id) after = after.previousElementSibling;
          next = after ? after.nextElementSibling : list.firstElementChild;
        }
        list.insertBefore(row, next);
      });
    }
    // Highlight the newest few (CSS .is-new; none under prefers-reduced-motion).
    var fresh = rows.slice(-20);
    fresh.forEach(function (row) { row.classList.add("is-new"); });
    setTimeout(function () { fresh.forEach(function (row) { row.classList.remove("is-new"); }); }, 1500);
    var extra = list.querySelectorAll(":scope > [data-id]").length - cap;
    while (extra-- > 0) {
      var old = newestFirst ? list.lastElementChild : list.firstElementChild;
      if (!old) break;
      old.remove();
    }
  }

  // -- counts ---------------------------------------------------------------

  Live.prototype.applyCounts = function (type, data) {
    if (type === "metrics") {
      ["total_messages", "total_channels", "total_users", "last_minute", "last_hour"].forEach(function (name) {
        if (data[name] === undefined) return;  // the windows come with home's events only
        var els = document.querySelectorAll("[data-metric='" + name + "']");
        for (var i = 0; i < els.length; i++) els[i].textContent = formatNumber(data[name]);
      });
      return;
    }
    var key = type === "channel_count" ? "channel-" + data.channel_id : "user-" + data.user_id;
    var targets = document.querySelectorAll("[data-live-key='" + key + "']");
    for (var i = 0; i < targets.length; i++) {
      setField(targets[i], "total_messages", formatNumber(data.total_messages));
      setTime(targets[i], "last_message_at", data.last_message_at);
      setTime(targets[i], "last_seen_at", data.last_seen_at);
    }
  };

  function formatNumber(n) { return Number(n).toLocaleString("en-US"); }

  function setField(target, name, text) {
    var el = target.querySelector("[data-field='" + name + "']");
    if (el && el.textContent !== text) el.textContent = text;
  }

  function setTime(target, name, iso) {
    var el = iso && target.querySelector("[data-field='" + name + "']");
    if (!el) return;
    var time = el.querySelector("time");
    if (!time) {
      time = document.createElement("time");
      time.textContent = iso;
      el.textContent = "";
      el.appendChild(time);
    }
    // static/js/localtime.js reformats a <time> whose datetime changes.
    if (time.getAttribute("datetime") !== iso) time.setAttribute("datetime", iso);
  }

  // -- too far behind: reload, and say what was skipped ----------------------
  // More messages arrived while the page was away than the server replays
  // (500): it reloads to show the newest, and the reloaded page says how many
  // it skipped and links to them, from where the old page stood.

  Live.prototype.skippedNote = function (skipped, more, after) {
    var base = this.status ? this.status.getAttribute("data-messages-url") : "/messages";
    var link = new URL(base, window.location.href);
    link.searchParams.set("after", String(after));
    if (this.url) {
      var stream = new URL(this.url, window.location.href);
      ["channel", "user"].forEach(function (name) {
        var value = stream.searchParams.get(name);
        if (value) link.searchParams.set(name, value);
      });
    }
    return { page: pageKey(), skipped: skipped, more: more, link: link.pathname + link.search };
  };

  Live.prototype.rememberSkipped = function (data) {
    if (typeof data.skipped !== "number") return;
    var note = this.skippedNote(data.skipped, !!data.skipped_more, data.after_id);
    try { window.sessionStorage.setItem(SKIPPED_KEY, JSON.stringify(note)); } catch (e) { /* storage off: reload only */ }
  };

  Live.prototype.showSkipped = function () {
    var note = null;
    try {
      note = JSON.parse(window.sessionStorage.getItem(SKIPPED_KEY) || "null");
      window.sessionStorage.removeItem(SKIPPED_KEY);
    } catch (e) { return; }
    if (note && note.page === pageKey()) this.renderSkipped(note);
  };

  Live.prototype.renderSkipped = function (note) {
    if (typeof note.skipped !== "number") return;
    var old = this.root.querySelector("[data-live-skipped]");
    if (old) old.remove();
    var box = document.createElement("p");
    box.className = "live-skipped";
    box.setAttribute("role", "status");
    box.setAttribute("data-live-skipped", String(note.skipped));
    var count = note.skipped.toLocaleString("en-US") + (note.more ? " or more" : "");
    box.textContent = "While this page was not connected, " + count + " messages arrived, more than it " +
      "catches up on by itself, so it shows the newest. ";
    var link = document.createElement("a");
    link.href = note.link;
    link.textContent = "Read the skipped messages from where you left off";
    box.appendChild(link);
    this.root.insertBefore(box, this.root.firstChild);
  };

  function pageKey() { return window.location.pathname + window.location.search; }

  // -- polling (stream off or down) -----------------------------------------

  Live.prototype.startPolling = function () {
    if (this.polling) return;
    this.polling = true;
    this.setState("polling");
    this.pollSoon(0);
  };

  Live.prototype.stopPolling = function () {
    this.polling = false;
    clearTimeout(this.timers.poll);
  };

  Live.prototype.pollSoon = function (delay) {
    var self = this;
    clearTimeout(this.timers.poll);
    this.timers.poll = setTimeout(function () { self.poll(); }, delay);
  };

  Live.prototype.poll = function () {
    var self = this;
    if (!this.polling) return;
    var jobs = [];
    var lists = this.root.querySelectorAll("[data-poll-url][data-poll-mode='insert']");
    for (var i = 0; i < lists.length; i++) jobs.push(this.pollList(lists[i]));
    var boxes = this.root.querySelectorAll("[data-poll-url][data-poll-mode='replace']");
    for (var j = 0; j < boxes.length; j++) jobs.push(pollReplace(boxes[j]));
    // A poll may end after the stream came back (it stops polling): then the
    // stream owns the status, and this poll must not say "polling" again.
    Promise.all(jobs).then(function () {
      if (self.polling && self.state !== "polling") self.setState("polling");
    }, function (err) {
      if (self.polling) self.setState(err && err.status === 503 ? "unavailable" : "error");
    }).then(function () { if (self.polling) self.pollSoon(POLL_EVERY); });
  };

  Live.prototype.pollList = function (list) {
    var self = this;
    var url = list.getAttribute("data-poll-url");
    url += (url.indexOf("?") === -1 ? "?" : "&") + "after_id=" + this.cursor;
    return fetchResponse(url).then(function (r) {
      var skipped = parseInt(r.headers.get("X-Goknut-Skipped") || "0", 10);
      if (skipped > 0) {
        self.renderSkipped(self.skippedNote(skipped, false, r.headers.get("X-Goknut-Skipped-After")));
      }
      return r.text();
    }).then(function (html) {
      var template = document.createElement("template");
      template.innerHTML = html;
      var rows = Array.prototype.slice.call(template.content.querySelectorAll("[data-id]"));
      insertRows(list, rows);
      rows.forEach(function (row) {
        if (row.hasAttribute("data-action")) applyModerationRow(self.root, row);
        if (idOf(row) > self.cursor) self.setCursor(idOf(row));
      });
    });
  };

  function pollReplace(el) {
    return fetchText(el.getAttribute("data-poll-url")).then(function (html) { el.innerHTML = html; });
  }

  function fetchResponse(url) {
    return fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" }).then(function (r) {
      if (!r.ok) {
        var error = new Error("HTTP " + r.status);
        error.status = r.status;
        throw error;
      }
      return r;
    });
  }

  function fetchText(url) {
    return fetchResponse(url).then(function (r) { return r.text(); });
  }

  // -- status -----------------------------------------------------------------

  Live.prototype.setState = function (state) {
    if (this.state === state) return;
    this.state = state;
    if (!this.status) return;
    this.status.setAttribute("data-state", state);
    var text = this.status.querySelector("[data-live-status-text]") || this.status;
    text.textContent = LABELS[state] || state;
  };

  // Ingest's state beside the dot ([data-live-ingest], live/ingest_state.html):
  // the server's words and, when offline, since when (localtime.js formats it).
  Live.prototype.setIngest = function (ingest) {
    var note = this.status && this.status.querySelector("[data-live-ingest]");
    if (!note) return;
    var key = [ingest.state, ingest.label || "", ingest.since || ""].join("|");
    if (note.getAttribute("data-key") === key) return; // unchanged: no re-announcement
    note.setAttribute("data-key", key);
    note.setAttribute("data-state", ingest.state);
    note.textContent = ingest.label ? " · " + ingest.label : "";
    if (ingest.label && ingest.since) {
      var when = document.createElement("time");
      when.setAttribute("datetime", ingest.since);
      when.textContent = ingest.since.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
      note.appendChild(document.createTextNode(" "));
      note.appendChild(when);
    }
    note.hidden = !ingest.label;
  };

  // -- page life cycle --------------------------------------------------------

  var current = null;

  function start() {
    var root = document.querySelector("[data-live-root]");
    if (!root || current) return;
    current = new Live(root);
    current.start();
  }

  // No stray connections: close on pagehide, start again if the page comes back
  // from the back/forward cache.
  window.addEventListener("pagehide", function () { if (current) current.stop(); current = null; });
  window.addEventListener("pageshow", function (event) { if (event.persisted) start(); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
