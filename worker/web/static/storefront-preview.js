/* The console's widget preview (worker/web/console/storefront_pages.py): mounts the real
 * <wix-rewards-widget> with the ids of #preview-config, its panel open. In sample-member mode it hands the
 * element the page's made-up member data through `element.session.sample` (docs/widget-api.md): no
 * server route answers member data on a flag, so this mode opens nothing on a real site. */
(() => {
  "use strict";
  const config = document.getElementById("preview-config");
  if (!config) return;
  const data = config.dataset;
  // Made-up progress over the site's own streaks and challenges (worker/console/storefront_sample.py),
  // in the page as data: a JSON block is not run, so the frame's CSP needs no inline script.
  const sample = document.getElementById("sample-member");
  const element = document.createElement("wix-rewards-widget");
  element.setAttribute("account-id", data.accountId);
  element.setAttribute("template-id", data.templateId);
  element.setAttribute("theme-id", data.themeId);
  element.setAttribute("floating-widget-id", data.floatingWidgetId);
  element.setAttribute("api-base", location.origin);
  element.setAttribute("open", "");
  if (data.mode === "member" && sample) {
    element.session = { mode: "member", sample: JSON.parse(sample.textContent) };
  }
  document.body.append(element);
})();
