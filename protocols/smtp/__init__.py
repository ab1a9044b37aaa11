"""SMTP front-end on aiosmtpd: SES's submission (STARTTLS, implicit TLS) and inbound listeners."""
