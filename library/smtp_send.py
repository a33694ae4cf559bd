#!/usr/bin/python
# Send one plain-text email over SMTP (stdlib smtplib): the notify role's email channel,
# so notifications need no collection beyond ansible.builtin.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: smtp_send
short_description: Send a plain-text email over SMTP
description:
  - Sends one UTF-8 plain-text message to one or more recipients through an SMTP server, with
    STARTTLS, implicit TLS or no encryption, and optional login.
  - Used by the notify role for the runbook's communication templates.
version_added: "0.1.0"
author: jsonmend maintainers (@jsonmend)
options:
  host:
    description: SMTP server.
    type: str
    default: localhost
  port:
    description: SMTP port; V(0) picks 465 for O(security=ssl) and 25 otherwise.
    type: int
    default: 0
  security:
    description: V(starttls) upgrades a plain connection, V(ssl) connects with TLS, V(none) sends in clear.
    type: str
    choices: [starttls, ssl, none]
    default: starttls
  username:
    description: Login user; no login when empty.
    type: str
    default: ""
  password:
    description: Login password. Never logged.
    type: str
    default: ""
  sender:
    description: From address.
    type: str
    required: true
  to:
    description: Recipient addresses.
    type: list
    elements: str
    required: true
  subject:
    description: Subject line.
    type: str
    required: true
  body:
    description: Message text.
    type: str
    required: true
  timeout:
    description: Seconds to wait for the server.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    description: In check mode nothing is sent; the module reports what it would send.
  diff_mode:
    support: none
    description: A sent message has no before and after.
"""

EXAMPLES = r"""
- name: Send the success notice
  ansible.legacy.smtp_send:
    host: smtp.example.com
    username: jsonmend
    password: "{{ vault_smtp_password }}"
    sender: jsonmend@example.com
    to: [team@example.com]
    subject: "[Complete] Metadata Integrity Fix Successfully Deployed"
    body: "{{ lookup('ansible.builtin.file', 'notice.txt') }}"
"""

RETURN = r"""
recipients:
  description: Addresses the server accepted.
  returned: success
  type: list
  elements: str
  sample: [team@example.com]
message_id:
  description: Message-ID header of the sent message.
  returned: success
  type: str
  sample: <170000.123@jsonmend>
"""

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ansible.module_utils.basic import AnsibleModule


def build_message(sender, to, subject, body):
    """The message as sent (pure; unit tested)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="jsonmend")
    message.set_content(body)
    return message


def send(params, message):
    port = params["port"] or (465 if params["security"] == "ssl" else 25)
    if params["security"] == "ssl":
        client = smtplib.SMTP_SSL(params["host"], port, timeout=params["timeout"], context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(params["host"], port, timeout=params["timeout"])
    try:
        if params["security"] == "starttls":
            client.starttls(context=ssl.create_default_context())
        if params["username"]:
            client.login(params["username"], params["password"])
        refused = client.send_message(message)
    finally:
        try:
            client.quit()
        except smtplib.SMTPException:
            pass
    return [address for address in params["to"] if address not in refused]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", default="localhost"),
            port=dict(type="int", default=0),
            security=dict(type="str", default="starttls", choices=["starttls", "ssl", "none"]),
            username=dict(type="str", default=""),
            password=dict(type="str", default="", no_log=True),
            sender=dict(type="str", required=True),
            to=dict(type="list", elements="str", required=True),
            subject=dict(type="str", required=True),
            body=dict(type="str", required=True),
            timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params["to"]:
        module.fail_json(msg="smtp_send needs at least one recipient in 'to'")
    message = build_message(params["sender"], params["to"], params["subject"], params["body"])
    if module.check_mode:
        module.exit_json(changed=True, recipients=params["to"], message_id=message["Message-ID"])
    try:
        accepted = send(params, message)
    except (OSError, smtplib.SMTPException) as exc:
        module.fail_json(msg="sending %r to %s through %s:%s failed: %s" % (params["subject"], ", ".join(params["to"]), params["host"], params["port"], exc))
    module.exit_json(changed=True, recipients=accepted, message_id=message["Message-ID"])


if __name__ == "__main__":
    main()
