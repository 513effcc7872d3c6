/* The console's widget preview (worker/web/console/storefront_pages.py): mounts the real
 * <wix-rewards-widget> with the ids of #preview-config, its panel open. In sample-member mode it hands the
 * element made-up member data through `element.session.sample` (docs/widget-api.md): the data never
 * comes from a server, so this mode opens nothing on a real site. */
(() => {
  "use strict";
  const config = document.getElementById("preview-config");
  if (!config) return;
  const data = config.dataset;
  const soon = new Date(Date.now() + 5 * 86400000).toISOString();
  const SAMPLE = {
    instanceId: data.accountId,
    contactId: "sample-member",
    streaks: [
      {
        id: "sample-streak", name: "Weekly order", currentRun: 3, status: "active", atRisk: true,
        periodValue: "0", periodTarget: "1", periodComplete: false, periodEndsAt: soon,
        nextMilestone: { id: "sample-m4", name: "Four weeks", target: "4", reward: { type: "coupon", summary: "10% off" } },
      },
    ],
    challenges: [
      {
        id: "sample-challenge", name: "Five orders", status: "in_progress", value: "3", target: "5", endsAt: soon,
        milestones: [
          { id: "sample-c3", name: "Three orders", target: "3", achieved: true, reward: { type: "points", summary: "100 points" } },
          { id: "sample-c5", name: "Five orders", target: "5", achieved: false, reward: null },
        ],
      },
    ],
    rewards: [
      { id: "sample-reward", name: "Two weeks", type: "coupon", status: "issued", couponCode: "SAMPLE-10",
        points: null, expiresAt: soon, issuedAt: new Date().toISOString() },
    ],
    points: { balance: 120, pointsName: "points", expiration: null },
  };
  const element = document.createElement("wix-rewards-widget");
  element.setAttribute("account-id", data.accountId);
  element.setAttribute("template-id", data.templateId);
  element.setAttribute("theme-id", data.themeId);
  element.setAttribute("floating-widget-id", data.floatingWidgetId);
  element.setAttribute("api-base", location.origin);
  element.setAttribute("open", "");
  if (data.mode === "member") element.session = { mode: "member", sample: SAMPLE };
  document.body.append(element);
})();
