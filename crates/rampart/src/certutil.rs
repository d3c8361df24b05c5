//! `rampart certutil` argument handling and password prompts; the work is done by
//! `rampart_pki::certutil`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use rampart_pki::certutil::{
    self, Bundle, CaOptions, CaSource, CertOptions, DEFAULT_CA_DN, DEFAULT_CA_FILE,
    DEFAULT_CERT_FILE, Instance,
};
use rampart_pki::{KeyType, Validity};
use zeroize::Zeroizing;

pub const CERTUTIL_HELP: &str = "\
Files are PKCS#12 (AES-256-CBC with PBKDF2, SHA-256 MAC: openssl 3 reads them without -legacy)
or, with --pem, PEM (keys encrypted as PKCS#8 when a password is given). An --out ending in
.zip writes one archive; otherwise files go under --out as a directory. Existing files are never
overwritten. Without --pass, a terminal is asked for the password; otherwise it is empty (with a
warning). Keys are RSA 2048 unless --keysize or --key-type ec say otherwise.

Exit codes: 0 success, 64 invalid arguments or input files, 74 the output could not be written.";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyKind {
    Rsa,
    Ec,
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// RSA key size in bits (2048, 3072 or 4096).
    #[arg(long, value_name = "BITS")]
    keysize: Option<u32>,
    /// Key algorithm: RSA (default, as Elasticsearch) or ECDSA P-256.
    #[arg(long = "key-type", value_enum, default_value = "rsa")]
    key_type: KeyKind,
}

impl KeyArgs {
    fn key_type(&self) -> Result<KeyType, String> {
        match (self.key_type, self.keysize) {
            (KeyKind::Ec, Some(_)) => Err("--keysize applies to RSA keys only".to_string()),
            (KeyKind::Ec, None) => Ok(KeyType::EcdsaP256),
            (KeyKind::Rsa, bits) => KeyType::rsa(bits.unwrap_or(2048)),
        }
    }
}

#[derive(Debug, Args)]
pub struct CaArgs {
    /// The signing CA as a PKCS#12 file (from `rampart certutil ca`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ca_cert", "ca_key"])]
    ca: Option<PathBuf>,
    /// The signing CA's certificate (PEM), with --ca-key.
    #[arg(long = "ca-cert", value_name = "PEM", requires = "ca_key")]
    ca_cert: Option<PathBuf>,
    /// The signing CA's private key (PEM), with --ca-cert.
    #[arg(long = "ca-key", value_name = "PEM", requires = "ca_cert")]
    ca_key: Option<PathBuf>,
    /// The password of the CA's PKCS#12 file or PEM key.
    #[arg(long = "ca-pass", value_name = "PW")]
    ca_pass: Option<String>,
}

#[derive(Debug, Args)]
pub struct InstanceArgs {
    /// The instance (node) name: the certificate's CN and the file names.
    #[arg(long)]
    name: Option<String>,
    /// DNS names for the SAN, comma-separated.
    #[arg(long, value_delimiter = ',')]
    dns: Vec<String>,
    /// IP addresses for the SAN, comma-separated.
    #[arg(long, value_delimiter = ',')]
    ip: Vec<String>,
    /// Elasticsearch's instances.yml, for many instances at once.
    #[arg(long = "in", value_name = "FILE", conflicts_with_all = ["name", "dns", "ip"])]
    input: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CertutilArgs {
    /// Generate a new certificate authority.
    Ca {
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[arg(long, value_name = "PW")]
        pass: Option<String>,
        /// Write PEM files (ca/ca.crt, ca/ca.key) instead of PKCS#12.
        #[arg(long)]
        pem: bool,
        #[arg(long, default_value_t = 1095)]
        days: u32,
        /// The CA's distinguished name.
        #[arg(long, default_value = DEFAULT_CA_DN)]
        dn: String,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Generate certificates (and keys) signed by a CA.
    Cert {
        #[command(flatten)]
        ca: CaArgs,
        #[command(flatten)]
        instances: InstanceArgs,
        #[arg(long, default_value_t = 1095)]
        days: u32,
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[arg(long, value_name = "PW")]
        pass: Option<String>,
        #[arg(long)]
        pem: bool,
    },
    /// Generate keys and certificate signing requests for an external CA.
    Csr {
        #[command(flatten)]
        instances: InstanceArgs,
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long, value_name = "DIR|FILE.zip")]
        out: Option<PathBuf>,
    },
    /// Generate the HTTP layer's certificate, a settings sample and the CA for clients.
    Http {
        #[command(flatten)]
        ca: CaArgs,
        #[command(flatten)]
        instances: InstanceArgs,
        #[arg(long, default_value_t = 730)]
        days: u32,
        #[command(flatten)]
        key: KeyArgs,
        #[arg(long, value_name = "DIR|FILE.zip")]
        out: Option<PathBuf>,
        #[arg(long, value_name = "PW")]
        pass: Option<String>,
    },
}

pub struct Failure {
    pub exit_code: u8,
    pub message: String,
}

fn bad(message: impl Into<String>) -> Failure {
    Failure {
        exit_code: 64,
        message: message.into(),
    }
}

/// A password given on the command line, asked for on a terminal, or empty (with a warning).
fn password(given: Option<String>, what: &str) -> Result<Zeroizing<String>, Failure> {
    if let Some(pw) = given {
        if pw.is_empty() {
            eprintln!(
                "WARNING: {what} has an empty password: anyone who can read it can use its key"
            );
        }
        return Ok(Zeroizing::new(pw));
    }
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "WARNING: no --pass given and no terminal to ask: {what} has an empty password, so \
             anyone who can read it can use its key"
        );
        return Ok(Zeroizing::new(String::new()));
    }
    let pw = Zeroizing::new(
        rpassword::prompt_password(format!("Enter password for {what}: "))
            .map_err(|e| bad(format!("cannot read the password: {e}")))?,
    );
    if pw.is_empty() {
        eprintln!("WARNING: {what} has an empty password: anyone who can read it can use its key");
    } else {
        let again = Zeroizing::new(
            rpassword::prompt_password("Enter the same password again: ")
                .map_err(|e| bad(format!("cannot read the password: {e}")))?,
        );
        if *again != *pw {
            return Err(bad("the passwords do not match"));
        }
    }
    Ok(pw)
}

/// Certificates outlive their usefulness long before 100 years; larger values are mistakes.
fn validity(days: u32) -> Result<Validity, Failure> {
    if days == 0 || days > 36_500 {
        return Err(bad(format!(
            "--days {days} is out of range: give 1 to 36500"
        )));
    }
    Ok(Validity { days })
}

fn cert_options(key: &KeyArgs, days: u32) -> Result<CertOptions, Failure> {
    Ok(CertOptions {
        key_type: key.key_type().map_err(bad)?,
        validity: validity(days)?,
    })
}

fn ca_password(given: Option<String>) -> Result<Zeroizing<String>, Failure> {
    match given {
        Some(pw) => Ok(Zeroizing::new(pw)),
        None if std::io::stdin().is_terminal() => {
            rpassword::prompt_password("Enter password for the CA (empty if none): ")
                .map(Zeroizing::new)
                .map_err(|e| bad(format!("cannot read the password: {e}")))
        }
        None => Ok(Zeroizing::new(String::new())),
    }
}

fn load_ca(args: CaArgs) -> Result<rampart_pki::CertificateAuthority, Failure> {
    let pass = ca_password(args.ca_pass)?;
    let source = match (&args.ca, &args.ca_cert, &args.ca_key) {
        (Some(path), _, _) => CaSource::Pkcs12 {
            path,
            password: &pass,
        },
        (None, Some(cert), Some(key)) => CaSource::Pem {
            cert,
            key,
            password: (!pass.is_empty()).then_some(pass.as_str()),
        },
        _ => {
            return Err(bad(
                "name the signing CA: --ca FILE.p12, or --ca-cert CA.crt --ca-key CA.key \
                 (make one with `rampart certutil ca`)",
            ));
        }
    };
    certutil::load_ca(&source).map_err(bad)
}

fn instances(args: InstanceArgs) -> Result<Vec<Instance>, Failure> {
    if let Some(path) = args.input {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
        return certutil::parse_instances(&text, &path.display().to_string()).map_err(bad);
    }
    let name = args.name.unwrap_or_else(|| "instance".to_string());
    let yaml = serde_yaml_ng::to_string(&serde_json::json!({
        "instances": [{"name": name, "dns": args.dns, "ip": args.ip}]
    }))
    .map_err(|e| bad(e.to_string()))?;
    certutil::parse_instances(&yaml, "the command line").map_err(bad)
}

fn write(bundle: &Bundle, out: &Path) -> Result<(), Failure> {
    let written = bundle.write(out).map_err(|message| Failure {
        exit_code: 74,
        message,
    })?;
    for path in written {
        println!("Wrote {}", path.display());
    }
    Ok(())
}

/// A single output file: written under its parent directory with its own name.
fn write_single(
    bundle_for: impl FnOnce(&str) -> Result<Bundle, String>,
    out: &Path,
) -> Result<(), Failure> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| bad(format!("--out {} names no file", out.display())))?;
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    write(&bundle_for(&name).map_err(bad)?, dir)
}

/// Reads one answer from the terminal, with a default for an empty line.
fn ask(question: &str, default: &str) -> Result<String, Failure> {
    use std::io::{BufRead, Write};
    if default.is_empty() {
        eprint!("{question}: ");
    } else {
        eprint!("{question} [{default}]: ");
    }
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| bad(format!("cannot read the answer: {e}")))?;
    let answer = line.trim();
    Ok(if answer.is_empty() { default } else { answer }.to_string())
}

fn split_list(answer: &str) -> Vec<String> {
    answer
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `certutil http` on a terminal without a CA named: asks for what it needs, step by step.
fn http_wizard(key_type: KeyType) -> Result<(), Failure> {
    eprintln!(
        "This makes the certificate a node serves HTTPS with, signed by your CA.\n\
         (Without a terminal, give --ca, --name, --dns, --ip and --pass instead.)\n"
    );
    let ca_path = PathBuf::from(ask(
        "Path of the CA's PKCS#12 file (from `rampart certutil ca`)",
        DEFAULT_CA_FILE,
    )?);
    let ca_pass = rpassword::prompt_password("Password of the CA (empty if none): ")
        .map(Zeroizing::new)
        .map_err(|e| bad(format!("cannot read the password: {e}")))?;
    let ca = certutil::load_ca(&CaSource::Pkcs12 {
        path: &ca_path,
        password: &ca_pass,
    })
    .map_err(bad)?;
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let name = ask("Node name", &host)?;
    let dns = split_list(&ask(
        "DNS names clients use to reach it, comma-separated",
        &format!("localhost,{host}"),
    )?);
    let ip = split_list(&ask(
        "IP addresses clients use, comma-separated",
        "127.0.0.1,::1",
    )?);
    let days: u32 = ask("Validity in days", "730")?
        .parse()
        .map_err(|_| bad("the validity must be a number of days"))?;
    let yaml = serde_yaml_ng::to_string(&serde_json::json!({
        "instances": [{"name": name, "dns": dns, "ip": ip}]
    }))
    .map_err(|e| bad(e.to_string()))?;
    let list = certutil::parse_instances(&yaml, "your answers").map_err(bad)?;
    let pass = password(None, "http.p12")?;
    let out = PathBuf::from(ask(
        "Where to write it (a directory, or a .zip)",
        "rampart-http",
    )?);
    let options = CertOptions {
        key_type,
        validity: validity(days)?,
    };
    write(
        &certutil::http_bundle(&ca, &list[0], &options, &pass).map_err(bad)?,
        &out,
    )
}

pub fn run(args: CertutilArgs) -> Result<(), Failure> {
    match args {
        CertutilArgs::Ca {
            out,
            pass,
            pem,
            days,
            dn,
            key,
        } => {
            let options = CaOptions {
                dn,
                key_type: key.key_type().map_err(bad)?,
                validity: validity(days)?,
            };
            let pass = password(pass, "the CA")?;
            if pem {
                let out = out.unwrap_or_else(|| PathBuf::from("."));
                write(
                    &certutil::ca_bundle(&options, true, &pass, DEFAULT_CA_FILE).map_err(bad)?,
                    &out,
                )
            } else {
                let out = out.unwrap_or_else(|| PathBuf::from(DEFAULT_CA_FILE));
                write_single(
                    |name| certutil::ca_bundle(&options, false, &pass, name),
                    &out,
                )
            }
        }
        CertutilArgs::Cert {
            ca,
            instances: instance_args,
            days,
            key,
            out,
            pass,
            pem,
        } => {
            let options = cert_options(&key, days)?;
            // instances.yml always gives a bundle, even with one instance, as in Elasticsearch.
            let from_file = instance_args.input.is_some();
            let list = instances(instance_args)?;
            let ca = load_ca(ca)?;
            let pass = password(pass, "the certificates")?;
            if !pem
                && !from_file
                && list.len() == 1
                && out
                    .as_ref()
                    .is_none_or(|o| o.extension().is_some_and(|e| e == "p12"))
            {
                let out = out.unwrap_or_else(|| PathBuf::from(DEFAULT_CERT_FILE));
                write_single(
                    |name| certutil::cert_bundle(&ca, &list, &options, false, &pass, Some(name)),
                    &out,
                )
            } else {
                let out = out.unwrap_or_else(|| PathBuf::from("certificate-bundle"));
                write(
                    &certutil::cert_bundle(&ca, &list, &options, pem, &pass, None).map_err(bad)?,
                    &out,
                )
            }
        }
        CertutilArgs::Csr {
            instances: instance_args,
            key,
            out,
        } => {
            let list = instances(instance_args)?;
            let out = out.unwrap_or_else(|| PathBuf::from("csr-bundle"));
            write(
                &certutil::csr_bundle(&list, key.key_type().map_err(bad)?).map_err(bad)?,
                &out,
            )
        }
        // On a terminal with no CA named, ask step by step instead of failing.
        CertutilArgs::Http { ca, key, .. }
            if ca.ca.is_none() && ca.ca_cert.is_none() && std::io::stdin().is_terminal() =>
        {
            http_wizard(key.key_type().map_err(bad)?)
        }
        CertutilArgs::Http {
            ca,
            instances: instance_args,
            days,
            key,
            out,
            pass,
        } => {
            let options = cert_options(&key, days)?;
            let list = instances(instance_args)?;
            let [instance] = &list[..] else {
                return Err(bad(
                    "certutil http makes the certificate of one node: give --name, --dns and --ip",
                ));
            };
            let ca = load_ca(ca)?;
            let pass = password(pass, "http.p12")?;
            let out = out.unwrap_or_else(|| PathBuf::from("rampart-http"));
            write(
                &certutil::http_bundle(&ca, instance, &options, &pass).map_err(bad)?,
                &out,
            )
        }
    }
}
