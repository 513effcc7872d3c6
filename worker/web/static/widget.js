/*! wix-rewards-widget: the storefront launcher and panel. No framework, no build step.
 * Contract: docs/widget-api.md. Defines <wix-rewards-widget> (its only global); when loaded by a
 * <script data-account-id=...> tag it mounts one itself (guest mode). The Wix snippet instead creates
 * the element, sets `element.session` to the /widget/v1/session answer and appends it (member mode).
 * A preview may set `element.session = {mode: "member", sample: <a /me answer>}` (shown as it is) and the
 * `open` attribute (the panel open from the start).
 * Once rendered it marks its element data-state="ready" (or "error", with one console.error saying why)
 * and data-mode="guest"|"member", and sets performance.mark("wix-rewards-widget:ready").
 */
(() => {
  "use strict";
  const TAG = "wix-rewards-widget";
  const IDS = ["account-id", "template-id", "theme-id", "floating-widget-id"];
  const SIZES = { small: 44, medium: 56, large: 68 };
  const SVG = "http://www.w3.org/2000/svg";
  // 24×24 stroke icons (after Feather, MIT).
  const ICONS = {
    gift: "M20 12v10H4V12M2 7h20v5H2zM12 22V7M12 7H7.5a2.5 2.5 0 0 1 0-5C11 2 12 7 12 7zM12 7h4.5a2.5 2.5 0 0 0 0-5C13 2 12 7 12 7z",
    star: "M12 2l3.09 6.26L22 9.27l-5 4.87 1.18 6.88L12 17.77l-6.18 3.25L7 14.14 2 9.27l6.91-1.01z",
    trophy: "M8 21h8M12 17v4M7 4h10v5a5 5 0 0 1-10 0zM17 5h3v2a3 3 0 0 1-3 3M7 5H4v2a3 3 0 0 0 3 3",
    heart:
      "M20.84 4.61a5.5 5.5 0 0 0-7.78 0L12 5.67l-1.06-1.06a5.5 5.5 0 0 0-7.78 7.78L12 21.23l8.84-8.84a5.5 5.5 0 0 0 0-7.78z",
    crown: "M2 20h20M3 7l5 5 4-7 4 7 5-5-2 11H5z",
    close: "M18 6L6 18M6 6l12 12",
  };
  const CSS = `
:host{all:initial}
[hidden]{display:none!important}
.root{all:initial;font-family:var(--wrw-font);font-size:14px;line-height:1.45;color:var(--wrw-text);
 font-weight:400;font-style:normal;letter-spacing:normal;text-align:left;text-transform:none;white-space:normal;
 visibility:visible;cursor:auto;direction:ltr}
*,*::before,*::after{box-sizing:border-box}
.launcher{all:initial;position:fixed;z-index:2147483000;display:flex;align-items:center;justify-content:center;
 width:var(--wrw-size);height:var(--wrw-size);border-radius:50%;background:var(--wrw-primary);
 color:var(--wrw-on-primary);cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}
.launcher svg{width:45%;height:45%}
.launcher.text{width:auto;padding:0 20px;border-radius:calc(var(--wrw-size) / 2);font-family:var(--wrw-font);
 font-size:15px;font-weight:600}
.launcher:focus-visible,button:focus-visible,.panel:focus-visible{outline:3px solid var(--wrw-text);outline-offset:2px}
.panel{position:fixed;z-index:2147483000;display:flex;flex-direction:column;width:min(360px,calc(100vw - var(--wrw-x) - 8px));
 max-height:min(600px,calc(100vh - var(--wrw-size) - 48px));overflow:auto;background:var(--wrw-bg);
 color:var(--wrw-text);border-radius:var(--wrw-radius);box-shadow:0 10px 40px rgba(0,0,0,.3);padding:16px}
.panel:focus{outline:none}
.head{display:flex;align-items:flex-start;justify-content:space-between;gap:8px}
h2,h3,h4,p,ul{margin:0;padding:0}
h2{font-size:18px;font-weight:700}
h3{font-size:15px;font-weight:700;margin:16px 0 8px}
h4{font-size:14px;font-weight:600}
p{margin:4px 0}
ul{list-style:none}
.muted{color:var(--wrw-muted)}
.x{all:initial;display:flex;cursor:pointer;color:var(--wrw-text);width:32px;height:32px;align-items:center;
 justify-content:center;border-radius:50%;flex:none}
.x svg{width:20px;height:20px}
.card{border:1px solid var(--wrw-line);border-radius:calc(var(--wrw-radius) * .66);padding:10px 12px;margin:0 0 8px}
.row{display:flex;align-items:center;justify-content:space-between;gap:8px;flex-wrap:wrap}
.badge{font-size:12px;font-weight:600;padding:1px 8px;border-radius:999px;background:var(--wrw-primary);
 color:var(--wrw-on-primary)}
.status{font-size:12px;color:var(--wrw-muted);border:1px solid var(--wrw-line);padding:0 8px;border-radius:999px}
.bar{height:8px;border-radius:4px;background:var(--wrw-line);overflow:hidden;margin:6px 0 2px}
.fill{display:block;height:100%;background:var(--wrw-primary)}
.ms li{display:flex;gap:6px;margin:3px 0}
.ms .mark{flex:none;width:16px;color:var(--wrw-primary);font-weight:700}
.coupon{display:flex;align-items:center;gap:8px;margin:6px 0}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:14px;padding:2px 6px;border:1px dashed var(--wrw-muted);
 border-radius:6px;user-select:all}
.btn{all:initial;font:inherit;font-size:13px;font-weight:600;cursor:pointer;padding:4px 10px;border-radius:999px;
 background:var(--wrw-primary);color:var(--wrw-on-primary)}
.cta{margin-top:12px;padding:8px 12px;border-left:4px solid var(--wrw-primary);font-weight:600}
.cta a{color:inherit}
.balance strong{font-size:22px}
.referral .link{word-break:break-all}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.spend .cost{font-weight:600}
.spend .btn[disabled]{opacity:.6;cursor:progress}
.spend .note{color:var(--wrw-text);font-weight:600}
`;

  /** `h("p", {class: "muted"}, "text", child)`: an element; attributes set, text as text nodes. */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  function icon(name) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("fill", "none");
    svg.setAttribute("stroke", "currentColor");
    svg.setAttribute("stroke-width", "2");
    svg.setAttribute("stroke-linecap", "round");
    svg.setAttribute("stroke-linejoin", "round");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", ICONS[name] || ICONS.gift);
    svg.append(path);
    return svg;
  }

  /** `Intl` formatters for the answered locale; the browser's default when the tag is not valid. */
  function formatters(locale) {
    let numbers, dates;
    try {
      numbers = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
      dates = new Intl.DateTimeFormat(locale, { dateStyle: "medium" });
    } catch {
      numbers = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
      dates = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
    }
    return {
      num(value) {
        const n = typeof value === "number" ? value : Number(value);
        return value === null || value === undefined || value === "" || !Number.isFinite(n)
          ? String(value ?? "")
          : numbers.format(n);
      },
      date(value, exclusive = false) {
        const d = value ? new Date(value) : null;
        if (!d || Number.isNaN(d.getTime())) return "";
        // A window's end is exclusive (midnight after its last day): show the last day it is open.
        return dates.format(exclusive ? new Date(d.getTime() - 1) : d);
      },
    };
  }

  /** A reward log's status in the template's words (`statusIssued`, ...), else as the server says it. */
  function statusText(status, copy) {
    return copy["status" + status.charAt(0).toUpperCase() + status.slice(1)] || status;
  }

  /** Copy is a plain label (no placeholders): the value follows it, after `sep`. */
  function fill(text, value, sep = " ") {
    return text ? `${text}${sep}${value}` : String(value);
  }

  class ApiError extends Error {}

  // Referrals (docs/widget-api.md "Referrals"): a `?wrw_ref=CODE` the visitor arrives with is kept until
  // they are a signed-in member, then claimed once.
  const REF_PARAM = "wrw_ref";
  const REF_KEY = "wix-rewards-widget:wrw_ref";
  const REF_CODE = /^[A-Za-z0-9_-]{8,32}$/;

  function keepReferralCode() {
    try {
      const code = new URLSearchParams(window.location.search).get(REF_PARAM);
      if (code && REF_CODE.test(code)) window.localStorage.setItem(REF_KEY, code);
    } catch {
      // no storage (a private window's policy): the link is not kept
    }
  }

  function keptReferralCode() {
    try {
      return window.localStorage.getItem(REF_KEY);
    } catch {
      return null;
    }
  }

  function forgetReferralCode() {
    try {
      window.localStorage.removeItem(REF_KEY);
    } catch {
      // nothing kept
    }
  }

  keepReferralCode();

  async function getJson(url, token) {
    let response;
    try {
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      response = await fetch(url, { headers, credentials: "omit", mode: "cors" });
    } catch (error) {
      throw new ApiError(`cannot reach ${new URL(url).origin} (${error.message || error})`);
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const e = (body && body.error) || {};
      const why = [e.code, e.message].filter(Boolean).join(": ");
      throw new ApiError(`GET ${url.split("?")[0]} answered ${response.status}${why ? ` ${why}` : ""}`);
    }
    if (!body || typeof body !== "object") throw new ApiError(`GET ${url.split("?")[0]} answered no JSON object`);
    return body;
  }

  class RewardsWidget extends HTMLElement {
    #started = false;
    #reported = false;
    #session = null;
    #launcher = null;
    #panel = null;
    #api = null; // {base, token, instance}: what the member sections (Spend points, referrals) call with

    connectedCallback() {
      if (this.#started) return;
      this.#started = true;
      // The snippet may set `session` before this class exists: take it into a private field.
      if (Object.prototype.hasOwnProperty.call(this, "session")) {
        this.#session = this.session;
        delete this.session;
      }
      const missing = IDS.find((name) => !this.getAttribute(name));
      if (missing) {
        this.#fail(`the ${missing} attribute is missing; no widget`);
        return;
      }
      this.#load().catch((error) => this.#fail(error instanceof ApiError ? error.message : String(error)));
    }

    /** One console.error per widget, saying why it shows nothing (or falls back to guest mode). */
    #fail(message) {
      if (this.#reported) return;
      this.#reported = true;
      if (!this.#launcher) this.setAttribute("data-state", "error");
      console.error(`${TAG}: ${message}`);
    }

    async #load() {
      const base = (this.getAttribute("api-base") || "").replace(/\/+$/, "");
      const query = new URLSearchParams({
        instance: this.getAttribute("account-id"),
        template: this.getAttribute("template-id"),
        theme: this.getAttribute("theme-id"),
        floatingWidget: this.getAttribute("floating-widget-id"),
      });
      const lang = (document.documentElement.getAttribute("lang") || "").trim();
      if (lang) query.set("locale", lang);
      const session = this.#session;
      const token = session && session.mode === "member" && typeof session.token === "string" && session.token;
      // A preview (the console's) hands made-up member data to the element itself: nothing is asked for.
      const sample = session && session.mode === "member" && session.sample && typeof session.sample === "object"
        ? session.sample
        : null;
      this.#api = { base, token, instance: query.get("instance") };
      const [content, me] = await Promise.all([
        getJson(`${base}/widget/v1/public?${query}`),
        sample ||
          (token
            ? getJson(`${base}/widget/v1/me?instance=${encodeURIComponent(query.get("instance"))}`, token).catch(
                (error) => {
                  // Public content still works: show guest mode, and say why.
                  this.#fail(`${error.message}; showing guest mode`);
                  return null;
                },
              )
            : null),
      ]);
      this.#render(content, me);
    }

    #render(content, me) {
      const copy = content.copy || {};
      const theme = content.theme || {};
      const colors = theme.colors || {};
      const widget = content.floatingWidget || {};
      const fmt = formatters(content.locale);
      const root = this.attachShadow({ mode: "open" });
      if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet.prototype.replaceSync === "function") {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        root.adoptedStyleSheets = [sheet];
      } else {
        root.append(h("style", {}, CSS));
      }
      const box = h("div", { class: "root" });
      const size = SIZES[widget.size] || SIZES.medium;
      const vars = {
        "--wrw-primary": colors.primary || "#1f5fbf",
        "--wrw-on-primary": colors.onPrimary || "#ffffff",
        "--wrw-bg": colors.background || "#ffffff",
        "--wrw-text": colors.text || "#1a1a1a",
        "--wrw-muted": colors.muted || "#5c5c5c",
        "--wrw-line": "color-mix(in srgb, var(--wrw-text) 14%, var(--wrw-bg))",
        "--wrw-font": theme.fontFamily || "system-ui, sans-serif",
        "--wrw-radius": `${Number.isFinite(theme.cornerRadius) ? theme.cornerRadius : 12}px`,
        "--wrw-size": `${size}px`,
      };
      for (const [name, value] of Object.entries(vars)) box.style.setProperty(name, value);

      const launcher = h("button", {
        type: "button",
        class: "launcher",
        "aria-label": widget.label || copy.title || "Rewards",
        "aria-expanded": "false",
        "aria-controls": "wrw-panel",
      });
      if (widget.icon === "none") {
        launcher.classList.add("text");
        launcher.append(widget.label || copy.title || "Rewards");
      } else {
        launcher.append(icon(widget.icon));
      }
      const panel = h("div", {
        id: "wrw-panel",
        class: "panel",
        role: "dialog",
        "aria-labelledby": "wrw-title",
        tabindex: "-1",
        lang: content.locale || null,
        hidden: "",
      });
      this.#place(launcher, panel, widget, size);
      const close = h("button", { type: "button", class: "x", "aria-label": copy.close || "Close" }, icon("close"));
      close.addEventListener("click", () => this.#toggle(false));
      panel.append(
        h("div", { class: "head" }, h("h2", { id: "wrw-title" }, copy.title || widget.label || ""), close),
        copy.intro ? h("p", { class: "muted" }, copy.intro) : null,
        me ? this.#member(me, copy, fmt) : this.#guest(content, copy, fmt),
        me && this.#api.token ? this.#referrals(copy) : null,
      );
      launcher.addEventListener("click", () => this.#toggle(panel.hidden));
      if (this.hasAttribute("open")) {
        // Open from the start (a preview), without taking the focus.
        panel.hidden = false;
        launcher.setAttribute("aria-expanded", "true");
      }
      root.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && !panel.hidden) {
          event.stopPropagation();
          this.#toggle(false);
        }
      });
      box.append(launcher, panel);
      root.append(box);
      this.#launcher = launcher;
      this.#panel = panel;
      this.setAttribute("data-state", "ready");
      this.setAttribute("data-mode", me ? "member" : "guest");
      if (performance.mark) performance.mark(`${TAG}:ready`);
    }

    #place(launcher, panel, widget, size) {
      const position = String(widget.position || "bottom-right");
      const vertical = position.startsWith("top") ? "top" : "bottom";
      const horizontal = position.endsWith("left") ? "left" : "right";
      const x = Number.isFinite(widget.offsetX) ? widget.offsetX : 24;
      const y = Number.isFinite(widget.offsetY) ? widget.offsetY : 24;
      launcher.style.setProperty(vertical, `${y}px`);
      launcher.style.setProperty(horizontal, `${x}px`);
      panel.style.setProperty(vertical, `${y + size + 12}px`);
      panel.style.setProperty(horizontal, `${x}px`);
      panel.style.setProperty("--wrw-x", `${x}px`);
    }

    #toggle(open) {
      const panel = this.#panel;
      panel.hidden = !open;
      this.#launcher.setAttribute("aria-expanded", String(open));
      if (open) panel.focus();
      else this.#launcher.focus();
    }

    #guest(content, copy, fmt) {
      const streaks = content.streaks || [];
      const challenges = content.challenges || [];
      return h(
        "div",
        { class: "body" },
        copy.howItWorks
          ? [h("h3", {}, copy.howItWorksTitle || ""), h("p", {}, copy.howItWorks)]
          : null,
        streaks.length
          ? [
              h("h3", {}, copy.streaksTitle || ""),
              h(
                "ul",
                {},
                streaks.map((s) =>
                  h(
                    "li",
                    { class: "card", "data-streak": s.id },
                    h("h4", {}, s.name),
                    s.description ? h("p", { class: "muted" }, s.description) : null,
                    this.#milestones(s.milestones, fmt, copy),
                  ),
                ),
              ),
            ]
          : null,
        challenges.length
          ? [
              h("h3", {}, copy.challengesTitle || ""),
              h(
                "ul",
                {},
                challenges.map((c) =>
                  h(
                    "li",
                    { class: "card", "data-challenge": c.id },
                    h("h4", {}, c.name),
                    c.description ? h("p", { class: "muted" }, c.description) : null,
                    c.endsAt ? h("p", { class: "muted ends" }, fill(copy.endsOn, fmt.date(c.endsAt, true))) : null,
                    this.#milestones(c.milestones, fmt, copy),
                  ),
                ),
              ),
            ]
          : null,
        copy.loginCta ? this.#cta(copy.loginCta, this.getAttribute("login-url")) : null,
      );
    }

    #cta(text, href) {
      return h("p", { class: "cta" }, href ? h("a", { href }, text) : text);
    }

    /** A milestone list; with `achieved` flags (member challenges) each says whether it is done. */
    #milestones(milestones, fmt, copy) {
      if (!milestones || !milestones.length) return null;
      return h(
        "ul",
        { class: "ms" },
        milestones.map((m) => {
          const done = m.achieved === true;
          const reward = m.reward && m.reward.summary;
          return h(
            "li",
            { "data-milestone": m.id, class: done ? "done" : null },
            "achieved" in m ? h("span", { class: "mark", "aria-hidden": "true" }, done ? "✓" : "○") : null,
            h(
              "span",
              {},
              `${m.name} (${fmt.num(m.target)})`,
              reward ? ` · ${reward}` : "",
              done && copy.milestoneAchieved ? h("span", { class: "sr" }, ` · ${copy.milestoneAchieved}`) : null,
            ),
          );
        }),
      );
    }

    #bar(label, value, target, fmt) {
      const now = Number(value) || 0;
      const max = Number(target) || 0;
      const share = max > 0 ? Math.max(0, Math.min(1, now / max)) : 0;
      const fillBar = h("span", { class: "fill" });
      fillBar.style.width = `${Math.round(share * 100)}%`;
      return h(
        "div",
        {
          class: "bar",
          role: "progressbar",
          "aria-label": label,
          "aria-valuemin": "0",
          "aria-valuemax": String(max),
          "aria-valuenow": String(Math.min(now, max)),
          "aria-valuetext": `${fmt.num(value)} / ${fmt.num(target)}`,
        },
        fillBar,
      );
    }

    #member(me, copy, fmt) {
      const streaks = me.streaks || [];
      const challenges = me.challenges || [];
      const rewards = me.rewards || [];
      const points = me.points;
      const status = h("span", { class: "sr", role: "status" });
      return h(
        "div",
        { class: "body" },
        me.status === "paused" ? h("p", { class: "paused", role: "note" }, copy.memberPaused || "") : null,
        points
          ? [
              h("h3", {}, copy.pointsTitle || ""),
              h("p", { class: "balance" }, h("strong", {}, fmt.num(points.balance)), ` ${points.pointsName || ""}`),
            ]
          : null,
        me.tier ? this.#tier(me.tier, copy, fmt) : null,
        this.#spend(me, copy, fmt, status),
        streaks.length
          ? [h("h3", {}, copy.streaksTitle || ""), h("ul", {}, streaks.map((s) => this.#streak(s, copy, fmt)))]
          : null,
        challenges.length
          ? [h("h3", {}, copy.challengesTitle || ""), h("ul", {}, challenges.map((c) => this.#challenge(c, copy, fmt)))]
          : null,
        h("h3", {}, copy.rewardsTitle || ""),
        rewards.length
          ? h("ul", {}, rewards.map((r) => this.#reward(r, copy, fmt, points, status)))
          : h("p", { class: "muted none" }, copy.noRewards || ""),
        status,
        copy.callToAction ? this.#cta(copy.callToAction, null) : null,
      );
    }

    /** The member's Wix loyalty tier and what the next one needs ("120 more points to Gold", a bar). */
    #tier(t, copy, fmt) {
      const next = t.next;
      return h(
        "div",
        { class: "tier", "data-tier": t.id || "" },
        h("h3", {}, copy.tierTitle || ""),
        h("p", { class: "tier-name" }, h("strong", {}, t.name || "")),
        next
          ? [
              h("p", { class: "tier-next" }, `${fmt.num(next.pointsNeeded)} ${copy.tierNext || ""} ${next.name}`),
              this.#bar(`${copy.tierTitle || ""}: ${next.name}`, t.points, next.requiredPoints, fmt),
            ]
          : null,
      );
    }

    /** A member's streak: run, this period's progress (and "at risk"), the next milestone. */
    #streak(s, copy, fmt) {
      const next = s.nextMilestone;
      const period = `${fmt.num(s.periodValue)} / ${fmt.num(s.periodTarget)}`;
      return h(
        "li",
        { class: "card", "data-streak": s.id },
        h("div", { class: "row" }, h("h4", {}, s.name), s.atRisk ? h("span", { class: "badge" }, copy.atRisk) : null),
        h("p", {}, copy.currentRun ? `${copy.currentRun}: ` : "", h("strong", { class: "run" }, fmt.num(s.currentRun ?? 0))),
        h("p", { class: "period" }, fill(copy.thisPeriod, period, ": ")),
        this.#bar(`${s.name}: ${copy.thisPeriod || ""}`.trim(), s.periodValue, s.periodTarget, fmt),
        next
          ? h(
              "p",
              { class: "next muted" },
              fill(copy.nextMilestone, `${next.name} (${fmt.num(next.target)})`, ": "),
              next.reward && next.reward.summary ? ` · ${next.reward.summary}` : "",
            )
          : null,
      );
    }

    /** A member's challenge: progress bar, value, end date, milestones achieved and to come. */
    #challenge(c, copy, fmt) {
      return h(
        "li",
        { class: "card", "data-challenge": c.id },
        h("h4", {}, c.name),
        this.#bar(c.name, c.value, c.target, fmt),
        h("p", { class: "value" }, `${fmt.num(c.value)} / ${fmt.num(c.target)}`),
        c.endsAt ? h("p", { class: "muted ends" }, fill(copy.endsOn, fmt.date(c.endsAt, true))) : null,
        this.#milestones(c.milestones, fmt, copy),
      );
    }

    #reward(r, copy, fmt, points, status) {
      let coupon = null;
      if (r.couponCode) {
        const code = h("code", {}, r.couponCode);
        const button = h("button", { type: "button", class: "btn" }, copy.copyCode || "Copy");
        button.addEventListener("click", () => this.#copy(r.couponCode, code, button, copy, status));
        coupon = h("div", { class: "coupon" }, code, button);
      }
      return h(
        "li",
        { class: "card", "data-reward": r.id },
        h("div", { class: "row" }, h("h4", {}, r.name), r.status ? h("span", { class: "status", "data-status": r.status }, statusText(r.status, copy)) : null),
        coupon,
        r.points !== null && r.points !== undefined
          ? h("p", { class: "points" }, `+${fmt.num(r.points)} ${(points && points.pointsName) || ""}`.trim())
          : null,
        r.expiresAt ? h("p", { class: "muted expires" }, fill(copy.expiresOn, fmt.date(r.expiresAt))) : null,
      );
    }

    // --- Spend points (docs/widget-api.md: GET /widget/v1/loyalty-rewards, POST /widget/v1/redeem) -------

    /** The site's Wix loyalty rewards at their cost with a Redeem button each, and the member's loyalty
     * coupons (a new one on top, its code with a copy button). A click redeems once: the button is busy
     * until the answer, and the click's retries send the same request id. A preview shows `me.spend`. */
    #spend(me, copy, fmt, status) {
      const api = this.#api || {};
      const sample = me.spend && typeof me.spend === "object" ? me.spend : null;
      if (!sample && !api.token) return null;
      const pointsName = (me.points && me.points.pointsName) || "";
      const offers = h("ul", { class: "offers" });
      const mineTitle = h("h4", { class: "coupons-title", hidden: "" }, copy.yourCoupons || "");
      const mine = h("ul", { class: "coupons" });
      const section = h("section", { class: "spend", "data-section": "spend", "aria-labelledby": "wrw-spend" },
        h("h3", { id: "wrw-spend" }, copy.spendTitle || ""), offers, mineTitle, mine);
      const setBalance = (balance) => {
        const strong = Number.isFinite(balance) && this.shadowRoot && this.shadowRoot.querySelector(".balance strong");
        if (strong) strong.textContent = fmt.num(balance);
      };
      const addCoupon = (c, fresh) => {
        if (!c || !c.code || [...mine.children].some((li) => li.dataset.coupon === String(c.id))) return;
        const code = h("code", {}, c.code);
        const button = h("button", { type: "button", class: "btn" }, copy.copyCode || "Copy");
        button.addEventListener("click", () => this.#copy(c.code, code, button, copy, status));
        const item = h("li", { class: fresh ? "card new" : "card", "data-coupon": c.id },
          h("h4", {}, c.rewardName || ""), h("div", { class: "coupon" }, code, button));
        if (fresh) mine.prepend(item);
        else mine.append(item);
        mineTitle.hidden = false;
      };
      const offer = (r) => {
        const button = h("button", { type: "button", class: "btn redeem", disabled: sample ? "" : null }, copy.redeem || "Redeem");
        const note = h("p", { class: "note", role: "status" });
        let busy = false;
        button.addEventListener("click", async () => {
          if (busy) return; // the second of a double click
          busy = true;
          button.disabled = true;
          note.textContent = "";
          try {
            const answer = await this.#redeemOnce(api, r.id);
            addCoupon(answer.coupon, true);
            setBalance(answer.balance);
          } catch (error) {
            note.textContent = error.code === "insufficient_points" ? copy.notEnoughPoints || error.message : error.message;
          } finally {
            busy = false;
            button.disabled = false;
          }
        });
        return h("li", { class: "card", "data-loyalty-reward": r.id },
          h("div", { class: "row" }, h("h4", {}, r.name), h("span", { class: "cost" }, `${fmt.num(r.costInPoints)} ${pointsName}`.trim())),
          r.summary && r.summary !== r.name ? h("p", { class: "muted" }, r.summary) : null, button, note);
      };
      const show = (data) => {
        offers.replaceChildren(...(data.rewards || []).map(offer));
        for (const c of data.coupons || []) addCoupon(c, false);
        section.hidden = !(data.rewards || []).length && !(data.coupons || []).length;
      };
      if (sample) show(sample);
      else {
        section.hidden = true;
        getJson(`${api.base}/widget/v1/loyalty-rewards?instance=${encodeURIComponent(api.instance)}`, api.token)
          .then(show, (error) => this.#fail(`${error.message}; no Spend points section`));
      }
      return section;
    }

    /** POST /widget/v1/redeem with one request id for this click, tried again (same id) while the server
     * cannot be reached or answers 5xx: the server answers a repeat with the coupon the first got. */
    async #redeemOnce(api, rewardId) {
      const requestId = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
      let failure = null;
      for (let attempt = 0; attempt < 4; attempt++) {
        if (attempt) await new Promise((resolve) => setTimeout(resolve, 400 * 2 ** (attempt - 1)));
        let response;
        try {
          response = await fetch(`${api.base}/widget/v1/redeem`, {
            method: "POST",
            headers: { Authorization: `Bearer ${api.token}`, "Content-Type": "application/json" },
            body: JSON.stringify({ rewardId, requestId }),
            credentials: "omit",
            mode: "cors",
          });
        } catch (error) {
          failure = new ApiError(`cannot reach the server (${error.message || error})`);
          continue;
        }
        let body = null;
        try {
          body = await response.json();
        } catch {
          body = null;
        }
        if (response.ok && body && body.coupon) return body;
        const e = (body && body.error) || {};
        failure = new ApiError(e.message || `the server answered ${response.status}`);
        failure.code = e.code;
        if (response.status < 500) break;
      }
      throw failure;
    }

    /** The member's referral link with a copy button, once `/widget/v1/referrals/me` answers; a code the
     * visitor arrived with is then claimed. Nothing for a site without referrals (`enabled: false`). */
    #referrals(copy) {
      const section = h("div", { class: "referral", hidden: "" });
      const { base, instance, token } = this.#api;
      const at = (path) => `${base}/widget/v1/referrals/${path}?instance=${encodeURIComponent(instance)}`;
      const claim = async (code) => {
        let response;
        try {
          response = await fetch(at("claim"), {
            method: "POST",
            headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
            body: JSON.stringify({ code }),
            credentials: "omit",
            mode: "cors",
          });
        } catch {
          return; // kept: claimed on a later page
        }
        if (response.status < 500) forgetReferralCode(); // claimed, or refused for good (own code...)
        this.setAttribute("data-referral-claim", response.ok ? "claimed" : "refused");
      };
      getJson(at("me"), token)
        .then((referral) => {
          if (!referral.enabled) return;
          const kept = keptReferralCode();
          if (kept && kept !== referral.code) claim(kept);
          else if (kept) forgetReferralCode(); // the member's own link
          const url = new URL(window.location.href);
          url.hash = "";
          url.searchParams.set(referral.param || REF_PARAM, referral.code);
          const link = h("code", { class: "link" }, url.toString());
          const label = copy.copyLink || "Copy link";
          const button = h("button", { type: "button", class: "btn" }, label);
          const status = h("span", { class: "sr", role: "status" });
          const words = { ...copy, copyCode: label };
          button.addEventListener("click", () => this.#copy(url.toString(), link, button, words, status));
          section.append(
            h("h3", {}, copy.referralTitle || "Refer a friend"),
            h("p", { class: "muted" }, fill(copy.referralForFriend, referral.friendReward)),
            h("p", { class: "muted" }, fill(copy.referralForYou, referral.referrerReward)),
            h("div", { class: "coupon" }, link, button),
            status,
          );
          section.hidden = false;
        })
        .catch(() => {
          // not now (Wix or the service unreachable): the panel goes on without it
        });
      return section;
    }

    /** navigator.clipboard when allowed; otherwise the code is selected for the shopper to copy. */
    async #copy(text, codeNode, button, copy, status) {
      let copied = false;
      try {
        if (navigator.clipboard && navigator.clipboard.writeText) {
          await navigator.clipboard.writeText(text);
          copied = true;
        }
      } catch {
        copied = false;
      }
      if (!copied) {
        const selection = window.getSelection && window.getSelection();
        if (selection) selection.selectAllChildren(codeNode);
        return;
      }
      const label = copy.copyCode || "Copy";
      button.textContent = copy.copied || label;
      status.textContent = copy.copied || "";
      setTimeout(() => {
        button.textContent = label;
        status.textContent = "";
      }, 2000);
    }
  }

  if (!customElements.get(TAG)) customElements.define(TAG, RewardsWidget);

  // One-tag embed: mount from this script's own data-* attributes.
  const script = document.currentScript;
  if (script && script.hasAttribute("data-account-id")) {
    const missing = IDS.find((name) => !script.getAttribute(`data-${name}`));
    if (missing) {
      console.error(`${TAG}: the script tag has no data-${missing}; no widget`);
      return;
    }
    const element = document.createElement(TAG);
    for (const name of IDS) element.setAttribute(name, script.getAttribute(`data-${name}`));
    element.setAttribute("api-base", new URL(script.src, document.baseURI).origin);
    const mount = () => document.body.append(element);
    if (document.body) mount();
    else document.addEventListener("DOMContentLoaded", mount, { once: true });
  }
})();
