//! Startup of a [`PgConnection`]: the SSLRequest answer and the
//! authentication exchange (trust, cleartext, MD5, SCRAM-SHA-256), up to the
//! first ReadyForQuery.

use crate::error::{Error, ErrorKind, Result};

use super::super::auth::{md5::md5_response, scram};
use super::super::protocol::backend::Message;
use super::super::protocol::frontend;
use super::super::tls;
use super::super::transport::Transport;
use super::{violation, Event, PgConnection, Phase};

impl PgConnection {
    pub(super) fn ssl_answer(&mut self, answer: u8) -> Result<()> {
        match answer {
            b'S' => {
                self.transport = Transport::Tls(Box::new(tls::client_session(&self.config)?));
                self.send_startup()
            }
            b'N' if self.config.sslmode.requires_tls() => Err(Error::operational(format!(
                "the server does not support TLS, and sslmode={} requires it",
                self.config.sslmode.as_str()
            ))),
            b'N' => self.send_startup(),
            _ => Err(violation("answer to SSLRequest")),
        }
    }

    fn password(&self) -> Result<&str> {
        self.config.password.as_deref().ok_or_else(|| {
            Error::operational(format!(
                "the server asks for a password for user {:?} but none was given",
                self.config.user
            ))
        })
    }

    pub(super) fn handle_auth(&mut self, message: Message<'_>) -> Result<()> {
        match message {
            Message::AuthenticationOk => {
                if self.scram.as_ref().is_some_and(|s| !s.is_done()) {
                    return Err(Error::operational(
                        "the server ended SCRAM authentication without proving it knows the password",
                    ));
                }
                if !self.challenged && self.config.password.is_some() && !self.config.allow_trust {
                    return Err(Error::operational(
                        "the server accepted the connection without asking for the password \
                         (trust authentication); refusing, since a password was given. \
                         Set allow_trust=true to accept such a server",
                    ));
                }
                self.scram = None;
                self.phase = Phase::Starting;
                Ok(())
            }
            Message::AuthenticationCleartextPassword => {
                self.challenged = true;
                if !self.transport.is_tls() && !self.config.is_local() {
                    return Err(Error::operational(
                        "the server asks for the password in cleartext over an unencrypted \
                         connection to a remote host; refusing (use sslmode=require, or a \
                         unix socket or loopback address)",
                    ));
                }
                let password = self.password()?.as_bytes().to_vec();
                frontend::password(&mut self.wbuf, &password)
            }
            Message::AuthenticationMd5Password { salt } => {
                self.challenged = true;
                let hashed = md5_response(&self.config.user, self.password()?.as_bytes(), salt);
                frontend::password(&mut self.wbuf, hashed.as_bytes())
            }
            Message::AuthenticationSasl { mechanisms } => {
                self.challenged = true;
                if !mechanisms.contains(&scram::MECHANISM) {
                    return Err(Error::new(
                        ErrorKind::NotSupported,
                        format!(
                            "the server offers SASL mechanisms {mechanisms:?}, none of which is supported"
                        ),
                    ));
                }
                let client = scram::ScramClient::new(self.password()?)?;
                frontend::sasl_initial_response(
                    &mut self.wbuf,
                    scram::MECHANISM,
                    &client.client_first(),
                )?;
                self.scram = Some(client);
                Ok(())
            }
            Message::AuthenticationSaslContinue(data) => {
                let client = self
                    .scram
                    .as_mut()
                    .ok_or_else(|| violation("SASL continue"))?;
                let reply = client.client_final(data)?;
                frontend::sasl_response(&mut self.wbuf, &reply)
            }
            Message::AuthenticationSaslFinal(data) => self
                .scram
                .as_mut()
                .ok_or_else(|| violation("SASL final"))?
                .verify_server_final(data),
            Message::AuthenticationUnsupported(name) => Err(Error::new(
                ErrorKind::NotSupported,
                format!("the server asks for {name} authentication, which is not supported"),
            )),
            // We ask for protocol 3.0 without options, so there is nothing to adjust.
            Message::NegotiateProtocolVersion { .. } => Ok(()),
            _ => Err(violation("message during authentication")),
        }
    }

    pub(super) fn handle_startup(&mut self, message: Message<'_>) -> Result<()> {
        match message {
            Message::BackendKeyData {
                process_id,
                secret_key,
            } => {
                self.backend_key = Some((process_id, secret_key));
                Ok(())
            }
            Message::ReadyForQuery(status) => {
                self.tx_status = status;
                self.phase = Phase::Ready;
                self.events.push_back(Event::Connected);
                Ok(())
            }
            Message::NegotiateProtocolVersion { .. } => Ok(()),
            _ => Err(violation("message during startup")),
        }
    }
}
