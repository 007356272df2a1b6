// Test-only: writes Outlook .msg files with @tutao/oxmsg (a port of MsgKit, which writes MSG
// as Outlook saves a received mail: transport headers, delivery time, body, HTML body).
// Reads a JSON array on stdin: [{path, headers, subject, sender, senderName, to, text, html,
// rtf, received, sent, draft}] (times ISO 8601, received/headers may be null) and writes each
// file. `rtf` is a body kept as RTF alone (PR_RTF_COMPRESSED, compressed by the writer), as
// Outlook keeps some; a draft with `html` gets the writer's own HTML-in-RTF encapsulation.
import { readFileSync, writeFileSync } from "node:fs"
import { Email } from "@tutao/oxmsg"

const items = JSON.parse(readFileSync(0, "utf8"))
for (const item of items) {
    const email = new Email(item.draft === true)
    if (item.sender) email.sender(item.sender, item.senderName || "")
    for (const to of item.to || []) email.to(to)
    email.subject(item.subject || "")
    email.bodyText(item.text || "")
    if (item.html) email.bodyHtml(item.html)
    if (item.rtf) {
        email._bodyRtf = item.rtf // the writer has no setter for an RTF body; msg() reads this
        email.bodyRtfCompressed = true
    }
    if (item.headers) email.headers(item.headers)
    if (item.messageId) email.internetMessageId = item.messageId
    email.sentOn(item.sent ? new Date(item.sent) : new Date(0))
    if (item.received) email.receivedOn(new Date(item.received))
    writeFileSync(item.path, email.msg())
}
