"""What to paste in Wix's Dev Center, step by step, from `wix-app/` and the service's public URL."""

from __future__ import annotations

import json
from typing import Any

from worker.wixapp.definitions import BASE_URL, INVOKE_PATH, PLACEHOLDER, Definitions


def _url(template: str, base_url: str) -> str:
    return template.replace(BASE_URL, base_url.rstrip("/"))


def _file(definitions: Definitions, relative: str) -> str:
    return str(definitions.root / relative)


def instructions(definitions: Definitions, base_url: str) -> str:
    """The registration, step by step, with every URL under `base_url` (PUBLIC_BASE_URL)."""
    app = definitions.app
    lines: list[str] = [
        f"Registering {app['name']!r} in Wix's Dev Center (https://dev.wix.com), PUBLIC_BASE_URL={base_url}",
        "",
        "1. Create the app: Dev Center > Create New App (self-hosted). Its OAuth page shows the App ID and",
        "   the App Secret Key; they go into WIX_APP_ID and WIX_APP_SECRET (step 8).",
        "",
        "2. Permissions (Develop > Permissions): add each, for the reason given.",
    ]
    for permission in app["permissions"]:
        lines.append(f"   - {permission['name']}: {permission['why']}")
        lines.append(f"     ({', '.join(permission['calls'])})")
    webhooks = app["webhooks"]
    lines += [
        "",
        "3. Webhooks (Develop > Webhooks): copy the public key into WIX_PUBLIC_KEY (or a file named by",
        "   WIX_PUBLIC_KEY_FILE), then subscribe to each event below with the callback URL",
        f"   {_url(webhooks['url'], base_url)}",
    ]
    lines += [f"   - {event['name']} ({event['eventType']})" for event in webhooks["events"]]
    provider = app["actionProvider"]
    base_uri = _url(provider["baseUri"], base_url)
    lines += [
        "",
        "4. Automations > the action provider (a self-hosted service plugin extension):",
        f"   name {provider['name']!r}, base URI {base_uri}",
        f"   (Wix calls {base_uri}{INVOKE_PATH}; the optional validate-configuration and quota-info",
        "   methods are not served). Then one action each: name, action key, and the input and output",
        "   schemas to paste (the file's inputSchema and outputSchema; `--schemas` prints them):",
    ]
    for relative in provider["actions"]:
        action = definitions.actions[relative.removeprefix("actions/").removesuffix(".json")]
        lines.append(
            f"   - {action['name']} (action key {action['actionKey']}): {_file(definitions, relative)}"
        )
    lines += ["", "5. Automations > triggers: one each, name, trigger key and the payload schema to paste:"]
    if definitions.triggers:
        folder = app["triggers"]["directory"]
        for key, trigger in definitions.triggers.items():
            path = _file(definitions, f"{folder}/{key}.json")
            lines.append(
                f"   - {trigger['name']} (trigger key {trigger['triggerKey']}): {path} (payloadSchema)"
            )
        lines.append("   On contactId, choose 'Connect a property to a contactId' (identity type: contact).")
    else:
        lines.append(f"   (none yet in {_file(definitions, app['triggers']['directory'])})")
    lines += _script_lines(definitions, app["embeddedScript"])
    page = app["dashboardPage"]
    lines += [
        "",
        f"7. Dashboard page (Extensions > Dashboard Page, self-hosted): name {page['name']!r},",
        f"   URL {_url(page['url'], base_url)} (the merchant console; it shows under the site's Apps).",
        "",
        "8. Settings of this service (.env or the environment), then restart it:",
    ]
    lines += [f"   - {name}: {meaning}" for name, meaning in app["oauth"]["settings"].items()]
    lines += [
        "",
        "Then install the app on a test site: the service records the instance on AppInstalled and",
        "embeds the script; `python -m worker wix-app check` validates these files at any time.",
    ]
    return "\n".join(lines)


def _script_lines(definitions: Definitions, script: dict[str, Any]) -> list[str]:
    path = definitions.root / script["file"]
    lines = [
        "",
        f"6. Embedded script (Extensions > Embedded Script): name {script['name']!r}, placement "
        f"{script['placement']}, type {script['scriptType']}; paste {path}.",
        "   Leave it inactive: the service embeds it on install with the site's parameters.",
    ]
    if path.is_file():
        names = sorted({name.strip() for name in PLACEHOLDER.findall(path.read_text(encoding="utf-8"))})
        lines.append(f"   Its parameters: {', '.join(names) if names else '(none)'}.")
    else:
        lines.append("   (the file is not there yet)")
    return lines


def schemas(definitions: Definitions) -> str:
    """Each schema to paste, under a line naming the extension and the Dev Center field it goes in."""
    parts = []
    for action in definitions.actions.values():
        for field, meaning in (("inputSchema", "input schema"), ("outputSchema", "output schema")):
            parts.append(f"==== action {action['actionKey']} ({action['name']}): {meaning}")
            parts.append(json.dumps(action[field], indent=2, ensure_ascii=False))
    for trigger in definitions.triggers.values():
        parts.append(f"==== trigger {trigger['triggerKey']} ({trigger['name']}): payload schema")
        parts.append(json.dumps(trigger["payloadSchema"], indent=2, ensure_ascii=False))
    return "\n".join(parts)
