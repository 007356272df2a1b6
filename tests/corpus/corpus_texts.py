"""The golden corpus's frozen tokens and the texts of the Salesforce templates it renders."""

from __future__ import annotations

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")  # Gmail stamps its Received headers in Pacific time
JST = timezone(timedelta(hours=9))

# One unique token per file (generated once with `secrets`, frozen here). Decoys are the
# token-shaped strings inside negative mails; they must never be reported as a finding.
TOKENS = {
    "01": "Bmq3Q2rmLKRsvNELAtb8txr3",
    "02": "nGCLiF9pHu5dhXxc2jZli6odU",
    "03": "QRZ9XITXGetYEwW5C0HUXZA3",
    "04": "LJFfEJSaMyYyw0J4xCLIife8",
    "05": "NB0W2DpOfTe2RPmq95Ezf9uYj",
    "06": "e6u610qcdh95Jio60lI8ywZIS",
    "07": "U5S8nh5eTzZdKcH47SodUWhf",
    "08": "P44usIRYJ35lbQtwuFvQ3SRK",
    "09": "F9ZvFYbeePOlpi21pXeFRR5Q",
    "10": "gDbaG35U7zlHwTEoifHYc2AI",
    "11": "OEnTyZASANlB3jbZb1raGyOfM",
    "12": "JNmrDwXbLZQaGvpBhbx21Jh6i",
    "13": "eAqpVEKebXuqkmsuHm60XhIP",
    "14": "qYmF9daE8dSHfurE99YDuXl9",
    "15": "fslfVMOUiSpR34uANxtutuuCK",
    "16": "WZjN03NxXOFlFU9sSukssODr",
    "17": "dFEjJO9enFghz5CtFOaMIS0z",
    "18": "qJ61AUtfNAhOhTlD4hxYLzTcP",
    # decoys in negatives
    "23": "z3WbikAGlXks5VIFHSqZRLzf",
    "24": "EwkY6lbW9m57rex7abONXOaH9",
    "25": "6WPkvzSXZm69bJvxjIzSUb2Y",
    "26": "DZM3ZCiKJW22tqMpu5o3SAlnI",
    "27": "vEi6b7HWBU0lH82ninMIoi3AH",
    "28": "EhFnPL8w5NhFHBPXfYghJ2Wsl",
}

HELP_URL = "https://help.salesforce.com/HTViewHelpDoc?id=user_security_token.htm"

CURRENT_TEXT = """\
We've sent you a new {brand} security token because you recently changed your password
or requested to reset your security token. Use this updated security token with API or
desktop clients that require it.

Username: {username}
Security token (case-sensitive): {token}

For more information on using your security token, see Reset Your Security Token at
{help_url}.

Thanks,
{brand}
"""

LEGACY_TEXT = """\
Dear Dana Martin,

Your new security token has been generated.

Security token (case-sensitive): {token}

Use this token when you log in to salesforce.com from an API or a desktop client: append
it to the end of your password. For more information, see "Resetting Your Security Token"
in the salesforce.com online help.

Thank you,
salesforce.com
"""

JA_TEXT = """\
最近パスワードを変更したか、セキュリティトークンのリセットを
要求したため、新しい Salesforce セキュリティトークンを
送信しました。このセキュリティトークンは、API または
デスクトップクライアントで使用します。

ユーザ名: {username}
セキュリティトークン (大文字と小文字を区別): {token}

セキュリティトークンの使用についての詳細は、次のページの
「セキュリティトークンのリセット」を参照してください。
{help_url}

よろしくお願いいたします。
Salesforce
"""
JA_SUBJECT = "新しいセキュリティトークン"

SUBJECT = "Your new Salesforce security token"


def html_template(username_html: str, token_html: str, brand: str = "Salesforce") -> str:
    """The HTML flavour of the current template (as Salesforce's mailer lays it out)."""
    return f"""\
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" \
"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
<title>Your new {brand} security token</title>
</head>
<body style="margin:0;padding:0;background-color:#f3f3f3;">
<table width="100%" cellpadding="0" cellspacing="0" border="0" \
style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#16325c;">
  <tr>
    <td style="padding:24px 24px 8px 24px;">
      We&#39;ve sent you a new {brand} security token because you recently changed your \
password<br>
      or requested to reset your security token. Use this updated security token with API \
or<br>
      desktop clients that require it.<br><br>
    </td>
  </tr>
  <tr>
    <td style="padding:0 24px;">
      <table cellpadding="4" cellspacing="0" border="0">
        <tr>
          <td style="font-weight:bold;">Username:&nbsp;</td>
          <td>{username_html}</td>
        </tr>
        <tr>
          <td style="font-weight:bold;">Security token (case-sensitive):&nbsp;</td>
          <td style="font-family:'Courier New',Courier,monospace;">{token_html}</td>
        </tr>
      </table>
    </td>
  </tr>
  <tr>
    <td style="padding:8px 24px 24px 24px;">
      <br>For more information on using your security token, see&nbsp;<a \
href="{HELP_URL}">Reset Your Security Token</a>.<br><br>
      Thanks,<br>
      {brand}
    </td>
  </tr>
</table>
</body>
</html>
"""


# Texts of the look-alikes (negatives); NEWSLETTER_TEXT is formatted with its decoy.

VERIFICATION_TEXT = """\
You recently logged in to Salesforce from a browser or app that we don't recognize. To
log in, enter the following verification code.

Verification Code: 872221

If you didn't try to log in, contact your Salesforce admin right away.

Username: dana@example.com
Browser: Chrome
Operating System: Mac OSX
Location: Lyon, France

Thanks,
Salesforce
"""

RESET_LINK_TEXT = """\
Hi Dana,

We received a request to reset the password for your Salesforce account. To finish
resetting your password, go to the following link. This link expires in 24 hours.

https://login.salesforce.com/secur/forgotpassword.jsp?fpk=4Q8xY2mNcRt7uVw0LpZs1KdJ9fHbGa3E

Username: dana@example.com

If you didn't request a password reset, ignore this email or contact your administrator.

Thanks,
Salesforce
"""

PASSWORD_RESET_TEXT = """\
Your Salesforce password has been reset.

Username: dana@example.com

Your security token was also reset. We've sent your new security token in a separate
email; use it with API or desktop clients that require it.

If you didn't reset your password, contact your Salesforce administrator immediately.

Thanks,
Salesforce
"""

WELCOME_TEXT = """\
Welcome to Salesforce!

To get started, go to https://login.salesforce.com/?c=kVfG3pQx9Lm2RtZ8wYb5NcHd7JsA1eUoTqWi4Xy6Pn0Ez

Username: dana@example.com

Click the link to verify your account and set your password. Your username is shown
above; keep it for future logins.

Thanks,
salesforce.com
"""

NEWSLETTER_TEXT = """\
Admin Digest - October 2023

5 ways to keep your API integrations secure

1. Know your security token
Your security token is a case-sensitive alphanumeric code that you append to your password
when you log in from an API or a desktop client. Salesforce emails it to you whenever you
reset it. The email looks like this:

    Username: admin@yourcompany.com
    Security token (case-sensitive): {decoy}

2. Prefer OAuth 2.0 connected apps over passwords plus tokens.
3. Restrict login IP ranges for integration users.
4. Rotate credentials when people leave the team.
5. Monitor the Login History page.

Read more: https://www.salesforce.com/blog/api-security-tips/

You are receiving this email because you subscribed to Salesforce Admin Digest.
Unsubscribe: https://www.salesforce.com/form/unsubscribe/
Salesforce, Inc., Salesforce Tower, 415 Mission Street, 3rd Floor, San Francisco, CA 94105
"""

NEWSLETTER_HTML = (
    "<html><body><h1>Admin Digest &ndash; October 2023</h1>"
    "<h2>5 ways to keep your API integrations secure</h2>"
    "<p><b>1. Know your security token</b><br>Your security token is a case-sensitive "
    "alphanumeric code that you append to your password when you log in from an API or a "
    "desktop client. Salesforce emails it to you whenever you reset it. The email looks "
    "like this:</p><blockquote>Username:&nbsp;admin@yourcompany.com<br>"
    "Security token (case-sensitive):&nbsp;{decoy}</blockquote>"
    "<p>2. Prefer OAuth 2.0 connected apps over passwords plus tokens.<br>"
    "3. Restrict login IP ranges for integration users.<br>"
    "4. Rotate credentials when people leave the team.<br>"
    "5. Monitor the Login History page.</p>"
    '<p><a href="https://www.salesforce.com/blog/api-security-tips/">Read more</a></p>'
    "</body></html>\n"
)
