# The email the notify role sends.
import smtp_send


def test_message_headers_and_utf8_body():
    message = smtp_send.build_message("jsonmend@example.com", ["a@example.com", "b@example.com"], "[Complete] Fix ✅", "Rows cleaned: 17 ✅")
    assert message["To"] == "a@example.com, b@example.com"
    assert message["Subject"] == "[Complete] Fix ✅"
    assert "Rows cleaned: 17 ✅" in message.get_content()
    assert message["Message-ID"].endswith("@jsonmend>")
