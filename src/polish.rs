//! Every error's cause and next step in Polish, for the window (the command line stays
//! English). [`Problem`](crate::error::Problem) requires [`InPolish`], and every `match` here names
//! each variant without a catch-all arm, so a new error type or a new variant without Polish
//! text does not compile. Values an English message shows (a reader, a path, a status) may
//! appear; secrets never do, as in the English messages.

use crate::card::desfire::{DesfireError, status};
use crate::card::els::ElsCardError;
use crate::card::feed::FeedError;
use crate::card::transport::TransportError;
use crate::config::keys::KeyError;
use crate::config::{Chip, ConfigError, Role};
use crate::crypto::els_sig::CrlError;
use crate::error::{InPolish, Polish};
use crate::remote::cardexchange::RemoteError;
use crate::remote::id123::Id123Error;
use crate::remote::usos::UsosError;
use crate::render::card::RenderError;
use crate::render::cups::PrintError;
use crate::render::layout::{LayoutError, SideName};
use crate::render::portrait::PhotoError;
use crate::station::auth::{Action, Denied};
use crate::station::desfire::{DesfireIssueError, DesfireReadError};
use crate::station::desk::{DeskError, ExpiryRefused, SetupError};
use crate::station::import::{CsvImportError, MAX_FILE_BYTES};
use crate::station::issue::{CardholderRecordError, IssueError};
use crate::station::print::{BatchError, CardFailure, PrepareError};
use crate::station::usos::{NoticeError, UsosIssueError, UsosSetupError};
use crate::station::validate::PolicyError;
use crate::store::trust::AddCrlError;
use crate::store::{
    HologramRefused, MAX_FAILED_ATTEMPTS, OperatorRole, ProductionStatus, Resource, SignInError,
    StoreError,
};
use crate::sync::SyncError;
use crate::sync::id123::ImportError;

fn pl(cause: impl Into<String>, next_step: &str) -> Polish {
    Polish {
        cause: cause.into(),
        next_step: next_step.to_owned(),
    }
}

const REPORT_BUG: &str = "To błąd programu stanowiska: zgłoś go razem z dziennikiem.";
const TRY_LATER: &str = "Spróbuj ponownie później; jeśli to się powtarza, zgłoś to.";
const CARD_AGAIN: &str = "Zdejmij kartę, połóż ją ponownie i spróbuj jeszcze raz.";

impl InPolish for TransportError {
    fn polish(&self) -> Polish {
        match self {
            Self::CardRemoved => pl(
                "Karta została zabrana z czytnika.",
                "Połóż kartę z powrotem na czytniku i spróbuj ponownie.",
            ),
            Self::CardReset => pl(
                "Inny program zresetował kartę; czynność trzeba zacząć od nowa.",
                "Spróbuj ponownie; zamknij inne programy korzystające z czytnika.",
            ),
            Self::NoCard(reader) => pl(
                format!("Brak karty w czytniku „{reader}”."),
                "Połóż kartę na czytniku.",
            ),
            Self::Timeout => pl("Nie doczekano się karty.", "Połóż kartę na czytniku."),
            Self::NoSuchReader(name) => pl(
                format!("Żaden czytnik nie pasuje do „{name}”."),
                "Sprawdź nazwy czytników na karcie Czytniki.",
            ),
            Self::NoReaders => pl("Nie podłączono żadnego czytnika kart.", "Podłącz czytnik."),
            Self::NoService => pl(
                "Usługa kart (pcscd) nie działa.",
                "Uruchom usługę kart: pcscd (instalacja: apt-get install pcscd).",
            ),
            Self::Busy(reader) => pl(
                format!("Czytnik „{reader}” jest zajęty przez inny program."),
                "Zamknij program, który zajmuje czytnik.",
            ),
            Self::ReaderGone(reader) => pl(
                format!("Czytnik „{reader}” został odłączony."),
                "Podłącz czytnik ponownie i spróbuj jeszcze raz.",
            ),
            Self::Protocol(_) => pl(
                "Błąd komunikacji z kartą.",
                "Zdejmij kartę, połóż ją ponownie i spróbuj jeszcze raz; jeśli to się powtarza, karta może być uszkodzona.",
            ),
            Self::Subsystem(_) => pl(
                "Błąd usługi kart.",
                "Uruchom ponownie pcscd i spróbuj jeszcze raz.",
            ),
        }
    }
}

impl InPolish for DesfireError {
    fn polish(&self) -> Polish {
        match self {
            Self::Status(code) => {
                let cause = format!("Karta odmówiła wykonania polecenia (status {code:02X}).");
                let next_step = match *code {
                    status::PERMISSION_DENIED | status::AUTHENTICATION_ERROR => {
                        "Sprawdź profil karty: ten krok wymaga klucza wskazanego w jej prawach dostępu."
                    }
                    status::APPLICATION_NOT_FOUND => {
                        "Karta nie ma aplikacji uczelni: najpierw ją wydaj."
                    }
                    status::DUPLICATE_ERROR => {
                        "Karta została już (częściowo) wydana: odczytaj ją albo sformatuj przed ponownym wydaniem."
                    }
                    status::OUT_OF_EEPROM | status::COUNT_ERROR => {
                        "Karta jest pełna: użyj innej karty."
                    }
                    _ => {
                        "Spróbuj ponownie; jeśli to się powtarza, sprawdź profil karty lub użyj innej karty."
                    }
                };
                pl(cause, next_step)
            }
            Self::Authentication => pl(
                "Uwierzytelnienie nieudane: karta nie przyjmuje tego klucza.",
                "Sprawdź klucz w profilu (klucz główny, numer klucza, dane dywersyfikacji); karta może należeć do innego systemu.",
            ),
            Self::IntegrityError => pl(
                "Odpowiedź karty nie przeszła kontroli integralności (błędny CMAC lub CRC).",
                "Zdejmij kartę, połóż ją ponownie i spróbuj jeszcze raz; jeśli to się powtarza, karta lub klucz są niewłaściwe.",
            ),
            Self::Transport(err) => err.polish(),
            Self::Malformed(_) => pl(
                "Odpowiedź karty jest nieprawidłowa.",
                "Zdejmij kartę, połóż ją ponownie i spróbuj jeszcze raz; jeśli to się powtarza, karta jest uszkodzona lub nie jest kartą DESFire EV1.",
            ),
            Self::NotDesfire(sw) => pl(
                format!("To nie jest karta DESFire: odpowiedziała {:04X}.", sw.0),
                "Użyj karty MIFARE DESFire EV1 (lub nowszej).",
            ),
            Self::NotAuthenticated => pl("To polecenie wymaga uwierzytelnionej sesji.", REPORT_BUG),
            Self::InvalidRequest(_) => pl("Nieprawidłowe polecenie dla karty.", REPORT_BUG),
        }
    }
}

impl InPolish for ElsCardError {
    fn polish(&self) -> Polish {
        match self {
            Self::Transport(err) => err.polish(),
            Self::NotAnElsCard => pl(
                "Ta karta nie ma aplikacji legitymacji (brak DF.SELS).",
                "Włóż legitymację (ELS/ELD/ELN) chipem do czytnika stykowego.",
            ),
            Self::KeyRefused => pl(
                "Karta odrzuciła klucz zapisu (niewłaściwy klucz dla tej karty).",
                "Sprawdź klucz karty w profilu lub klucz tej karty na serwerze.",
            ),
            Self::KeyBlocked => pl(
                "Klucz zapisu karty jest zablokowany po zbyt wielu błędnych próbach.",
                "Karty nie da się już zapisać; wydaj duplikat.",
            ),
            Self::Empty => pl(
                "EF.ELS jest pusty: karta nie została jeszcze zapisana.",
                "Najpierw wydaj kartę.",
            ),
            Self::TooLarge {
                file,
                len,
                capacity,
            } => pl(
                format!("{file} ma {len} bajtów, a plik na karcie mieści {capacity}."),
                "Użyj krótszego łańcucha certyfikatów lub karty z większymi plikami.",
            ),
            Self::Malformed { file, .. } => pl(
                format!("{file} nie zawiera obiektu DER."),
                "Zapisz kartę ponownie.",
            ),
            Self::Refused { sw, .. } => {
                pl(format!("Karta odpowiedziała {:04X}.", sw.0), CARD_AGAIN)
            }
            Self::NoChipSerial => pl(
                "Ani czytnik, ani karta nie podają numeru seryjnego chipu, więc karty nie można powiązać z chipem.",
                "Zapisz kartę na czytniku, który podaje numer chipu: zbliżeniowej stronie czytnika dwuinterfejsowego albo czytniku stykowym z kartą odpowiadającą na GET DATA (README, Hardware).",
            ),
        }
    }
}

impl InPolish for FeedError {
    fn polish(&self) -> Polish {
        match self {
            Self::Reader(TransportError::Timeout) => pl(
                "Czytnik enkodera: nie doczekano się karty.",
                "Uzupełnij podajnik drukarki i sprawdź czytnik enkodera, potem uruchom partię ponownie.",
            ),
            Self::Reader(err) => err.polish(),
            Self::NoAnswer { address, .. } => pl(
                format!("Drukarka pod adresem {address} nie odpowiada."),
                "Sprawdź, czy drukarka jest włączona i w sieci oraz czy [printer] feed_address ją wskazuje; potem uruchom partię ponownie.",
            ),
            Self::Refused { address, reply, .. } => pl(
                format!("Drukarka pod adresem {address} odmówiła polecenia: {reply}."),
                "Sprawdź drukarkę (pusty podajnik, zacięta karta, otwarta pokrywa), usuń problem i kartę z wnętrza, potem uruchom partię ponownie.",
            ),
        }
    }
}

impl InPolish for KeyError {
    fn polish(&self) -> Polish {
        match self {
            Self::Io { path, .. } => pl(
                format!("Nie można odczytać {}.", path.display()),
                "Sprawdź ścieżkę w profilu i czy plik można odczytać.",
            ),
            Self::InsecurePermissions { path, mode } => pl(
                format!(
                    "Plik klucza {} jest dostępny dla grupy lub innych (tryb {mode:04o}); uruchom chmod 600 {}.",
                    path.display(),
                    path.display()
                ),
                "Wykonaj podane chmod i uruchom ponownie.",
            ),
            Self::NotPem { path } => pl(
                format!("Plik klucza {} nie jest tekstem PEM.", path.display()),
                CONVERT_KEY,
            ),
            Self::UnsupportedPemLabel { path, .. } => pl(
                format!(
                    "Plik klucza {} zawiera blok PEM innego rodzaju niż klucz prywatny PKCS#8.",
                    path.display()
                ),
                CONVERT_KEY,
            ),
            Self::NotP256Key { path } => pl(
                format!(
                    "Plik klucza {} nie jest kluczem prywatnym ECDSA P-256 w PKCS#8.",
                    path.display()
                ),
                CONVERT_KEY,
            ),
            Self::PassphraseNotConfigured { path } => pl(
                format!(
                    "Plik klucza {} jest zaszyfrowany, a profil nie wskazuje zmiennej z hasłem.",
                    path.display()
                ),
                "Podaj nazwę zmiennej z hasłem w [els] signer_passphrase_env profilu.",
            ),
            Self::Passphrase(err) => err.polish(),
            Self::DecryptionFailed { path } => pl(
                format!(
                    "Nie można odszyfrować pliku klucza {} (błędne hasło lub nieobsługiwany szyfr).",
                    path.display()
                ),
                "Sprawdź hasło w zmiennej wskazanej przez [els] signer_passphrase_env.",
            ),
            Self::BadCertificate { path, .. } => pl(
                format!(
                    "{} nie jest certyfikatem X.509 w postaci PEM ani DER.",
                    path.display()
                ),
                "Wskaż w profilu certyfikat X.509 podpisującego (PEM lub DER).",
            ),
            Self::NotP256PublicKey { path } => pl(
                format!(
                    "{} nie zawiera klucza publicznego ECDSA P-256 ani certyfikatu z takim kluczem.",
                    path.display()
                ),
                "Wyeksportuj klucz publiczny: openssl pkey -in KEY.pem -pubout, albo wskaż w profilu certyfikat.",
            ),
        }
    }
}

const CONVERT_KEY: &str =
    "Przekształć klucz do PKCS#8 PEM (openssl pkcs8 -topk8) z kluczem ECDSA P-256.";

impl InPolish for ConfigError {
    fn polish(&self) -> Polish {
        match self {
            Self::Read { path, .. } => pl(
                format!("Nie można odczytać profilu {}.", path.display()),
                "Sprawdź ścieżkę --profile.",
            ),
            Self::Invalid { path, .. } => pl(
                format!("Profil {path} jest nieprawidłowy."),
                "Popraw profil; przykłady w profiles/ pokazują każdy klucz.",
            ),
            Self::MissingSecret(var) => pl(
                format!(
                    "Sekret {var} (wskazany w profilu) nie jest ustawiony w środowisku ani zapisany w keyringu."
                ),
                "Wyeksportuj zmienną przed uruchomieniem albo zapisz ją w keyringu: cardstation secret set VAR (wartość ze standardowego wejścia).",
            ),
            Self::BadSecret { var, .. } => pl(
                format!("Sekret {var} ma niewłaściwą postać."),
                "Ustaw zmienną (lub cardstation secret set) na wartość właściwej postaci.",
            ),
            Self::KioskHoldsWriteKey { path, keys } => pl(
                format!(
                    "Profil {path} należy do kiosku, a wskazuje klucze zapisu lub podpisu kart: {}.",
                    keys.join(", ")
                ),
                "Usuń te klucze z profilu kiosku (i jego środowiska): kiosk potrzebuje tylko desfire.read_key_env i desfire.record_verify_key (README, Keys).",
            ),
            Self::MissingKey { key } => pl(
                format!("W profilu brak {key}, a jest tu potrzebny."),
                "Dodaj go do profilu (zob. profiles/issuance-desk.toml); karty zapisuje tylko profil stanowiska wydawania lub druku.",
            ),
            Self::RecordKey(err) => err.polish(),
            Self::RecordKeysDiffer => pl(
                "desfire.record_verify_key nie jest kluczem publicznym desfire.record_signer_key: kioski uznałyby każdą wydaną tu kartę za podrobioną.",
                "Wskaż w desfire.record_verify_key klucz publiczny podpisującego albo usuń go (stanowisko wyprowadzi go z klucza podpisu).",
            ),
            Self::Keyring { var, .. } => pl(
                format!("Keyring nie obsłużył zmiennej {var}."),
                "Wyeksportuj zmienną w środowisku; keyring jądra (keyctl show @s) może być niedostępny w tej sesji lub kontenerze.",
            ),
        }
    }
}

impl InPolish for LayoutError {
    fn polish(&self) -> Polish {
        match self {
            Self::Read { path, .. } => pl(
                format!("Nie można odczytać układu {}.", path.display()),
                "Sprawdź ścieżkę układu (przykłady: profiles/layouts/).",
            ),
            Self::Invalid { path, .. } => pl(
                format!("Układ {} jest nieprawidłowy.", path.display()),
                "Popraw plik układu; profiles/layouts/els-student.toml pokazuje każdy rodzaj elementu.",
            ),
        }
    }
}

impl InPolish for RenderError {
    fn polish(&self) -> Polish {
        match self {
            Self::Element { side, index, .. } => {
                let side = match side {
                    SideName::Front => "awersu",
                    SideName::Back => "rewersu",
                };
                pl(
                    format!("Element {index} {side} nie mieści danych."),
                    "Popraw dane posiadacza albo poszerz wskazany element układu.",
                )
            }
            Self::Draw(_) => pl(
                "Nie udało się narysować karty.",
                "Zgłoś to razem z układem i użytymi danymi.",
            ),
        }
    }
}

impl InPolish for PhotoError {
    fn polish(&self) -> Polish {
        match self {
            Self::Unreadable { path, .. } => pl(
                format!("Nie można odczytać pliku {path}."),
                "Sprawdź ścieżkę i czy plik można odczytać.",
            ),
            Self::TooManyBytes { bytes, max } => pl(
                format!("Zdjęcie ma {bytes} bajtów; przyjmowane jest najwyżej {max}."),
                "Zmniejsz zdjęcie (na przykład do 1000×1300 pikseli) i spróbuj ponownie.",
            ),
            Self::NotJpegOrPng => pl(
                "Plik nie jest zdjęciem JPEG ani PNG.",
                "Zapisz zdjęcie jako JPEG lub PNG i spróbuj ponownie.",
            ),
            Self::TooManyPixels { width, height } => pl(
                format!("Zdjęcie deklaruje {width}×{height} pikseli, więcej niż dopuszczalne."),
                "Zmniejsz zdjęcie (na przykład do 1000×1300 pikseli) i spróbuj ponownie.",
            ),
            Self::Damaged(_) => pl(
                "Zdjęcie jest uszkodzone (ucięte albo nieprawidłowe).",
                "Otwórz zdjęcie w przeglądarce obrazów; zapisz je ponownie albo zrób nowe.",
            ),
            Self::TooSmall {
                width,
                height,
                min_width,
                min_height,
            } => pl(
                format!(
                    "Zdjęcie ma {width}×{height} pikseli; ramka zdjęcia na karcie wymaga po przycięciu co najmniej {min_width}×{min_height} (300 dpi)."
                ),
                "Użyj większego zdjęcia (skanu albo oryginału z aparatu).",
            ),
            Self::NotBase64 => pl(
                "Zdjęcie z serwera nie jest w formacie base64.",
                "Popraw zdjęcie tej osoby na serwerze.",
            ),
        }
    }
}

impl InPolish for PrintError {
    fn polish(&self) -> Polish {
        match self {
            Self::Tool { command, .. } => pl(
                format!("Nie można uruchomić {command}."),
                "Zainstaluj narzędzia CUPS: apt-get install cups-client cups-ipp-utils.",
            ),
            Self::Refused { queue, .. } => pl(
                format!("CUPS nie przyjął zadania do kolejki „{queue}”."),
                "Sprawdź kolejkę (lpstat -p): czy cupsd działa i printer.queue jest właściwe?",
            ),
            Self::Failed { request, .. } => pl(
                format!("Zadanie druku {request} zakończyło się niepowodzeniem."),
                "Sprawdź drukarkę (taśma, karty, pokrywa) i lpstat -p, potem wydrukuj kartę ponownie.",
            ),
            Self::Unknown {
                request, cancelled, ..
            } => pl(
                format!(
                    "CUPS nie wie, co stało się z zadaniem druku {request}; nie wiadomo, czy karta wyszła{}.",
                    if *cancelled {
                        "; zadanie wycofano"
                    } else {
                        "; zadania nie dało się wycofać i może się jeszcze wydrukować"
                    }
                ),
                "Sprawdź odbiornik kart drukarki i lpstat -W completed oraz czy cupsd działa, potem uruchom partię ponownie (jeśli karta nie wyszła, produkcja czeka w kolejce).",
            ),
            Self::Timeout {
                request, seconds, ..
            } => pl(
                format!(
                    "Zadanie druku {request} nie skończyło się w {seconds} s; zostało anulowane."
                ),
                "Sprawdź drukarkę i lpstat -p; dla wolnych drukarek zwiększ printer.job_timeout_seconds.",
            ),
        }
    }
}

impl InPolish for DesfireIssueError {
    fn polish(&self) -> Polish {
        match self {
            Self::InvalidRecord(_) => pl(
                "Nie można zapisać rekordu karty: dane są nieprawidłowe.",
                "Popraw dane karty i wydaj ją ponownie.",
            ),
            Self::RandomUid { reader } => pl(
                format!(
                    "Karta pokazuje losowy UID ({reader}) zamiast prawdziwego; kiosk nie wyprowadzi jej kluczy."
                ),
                "Użyj karty bez losowego UID (lub wyłącz tę opcję kluczem PICC).",
            ),
            Self::PiccAuthentication => pl(
                "Uwierzytelnienie odrzucone: karta nie przyjmuje klucza głównego PICC z profilu.",
                "Ustaw desfire.picc_key_env na klucz główny PICC karty albo użyj czystej karty.",
            ),
            Self::ApplicationAuthentication => pl(
                "Uwierzytelnienie odrzucone: klucz główny aplikacji nie jest ani domyślny, ani wyprowadzony dla tej karty.",
                "Kartę wydano z innym kluczem lub w innym systemie: użyj innej karty.",
            ),
            Self::RecordFileMismatch(file) => pl(
                format!(
                    "Plik rekordu {file} na karcie nie zgadza się z profilem (typ, tryb komunikacji lub rozmiar)."
                ),
                "Kartę przygotowano z innym profilem: sformatuj ją lub użyj innej karty.",
            ),
            Self::ReadBackDiffers => pl("Odczytany rekord różni się od zapisanego.", ISSUE_AGAIN),
            Self::ReadBack(_) => pl("Kontrola odczytu po zapisie nie powiodła się.", ISSUE_AGAIN),
            Self::Card(DesfireError::Transport(TransportError::CardRemoved)) => pl(
                "Karta została zabrana z czytnika.",
                "Połóż kartę z powrotem i wydaj ją ponownie: karta wycofała niedokończony zapis rekordu.",
            ),
            Self::Card(err) => err.polish(),
        }
    }
}

const ISSUE_AGAIN: &str = "Wydaj kartę ponownie; jeśli to się powtarza, użyj innej karty.";
const TO_THE_OFFICE: &str = "Zatrzymaj kartę i skieruj posiadacza do biura legitymacji.";

impl InPolish for DesfireReadError {
    fn polish(&self) -> Polish {
        let not_ours = "To nie jest karta tej uczelni: skieruj posiadacza do biura legitymacji.";
        match self {
            Self::NotOurApplication { .. } => pl(
                "To nie nasza aplikacja: karta nie ma aplikacji ani rekordu uczelni.",
                not_ours,
            ),
            Self::UnsupportedUid(uid) => pl(
                format!(
                    "Karta pokazuje UID {}-bajtowy, a nie 7-bajtowy UID karty DESFire bez losowego UID.",
                    uid.len()
                ),
                not_ours,
            ),
            Self::AuthenticationRefused { .. } => pl(
                "Uwierzytelnienie odrzucone: karta nie przyjmuje wyprowadzonego dla niej klucza odczytu.",
                "Sprawdź read_key_env w profilu; inaczej karta należy do innego systemu.",
            ),
            Self::Forged { .. } => pl(
                "Podpis się nie zgadza: rekord karty jest podrobiony, uszkodzony lub skopiowany z innej karty.",
                TO_THE_OFFICE,
            ),
            Self::Unreadable { .. } => pl("Rekordu karty nie da się odczytać.", TO_THE_OFFICE),
            Self::Expired(record) => pl(
                format!("Karta straciła ważność {}.", record.record.expires),
                "Kartę trzeba przedłużyć w biurze legitymacji.",
            ),
            Self::Card(err) => err.polish(),
        }
    }
}

impl InPolish for UsosSetupError {
    fn polish(&self) -> Polish {
        match self {
            Self::NoUsos => pl(
                "Profil nie ma sekcji [usos].",
                "Użyj profilu z [usos] url, consumer_key_env i consumer_secret_env.",
            ),
            Self::Secret(err) => err.polish(),
            Self::Client(err) => err.polish(),
        }
    }
}

impl InPolish for UsosIssueError {
    fn polish(&self) -> Polish {
        match self {
            Self::Usos(err) => err.polish(),
            Self::Refused { reason } => pl(
                format!("USOS nie pozwala zapisać tej karty: {reason}"),
                "Wyjaśnij przyczynę w USOS, potem wydaj kartę ponownie.",
            ),
            Self::OtherChip { usos, card } => pl(
                format!(
                    "USOS ma ten kod kreskowy dla chipu {usos}, a na czytniku jest chip {card}."
                ),
                "Połóż na czytniku kartę z tym kodem kreskowym.",
            ),
            Self::OtherHolder { .. } => pl(
                "Dane karty w USOS dotyczą innego numeru PESEL niż wybrany posiadacz.",
                "Wybierz posiadacza, do którego należy karta.",
            ),
            Self::NotLater { offered, current } => pl(
                format!(
                    "Ważność w USOS kończy się {offered}, nie później niż obecna ważność karty ({current}): najpierw przedłuż ważność w USOS."
                ),
                "Przedłuż kartę w USOS, potem zapisz ją ponownie.",
            ),
            Self::Issue(err) => err.polish(),
            Self::Record(err) => err.polish(),

            Self::NotTold { chip, expires, .. } => pl(
                format!(
                    "Chip {chip} jest zapisany (ważny do {expires}), ale USOS jeszcze o tym nie wie."
                ),
                "Karta jest gotowa: ponów powiadomienie USOS (Ponów na stanowisku albo `cardstation usos prolong` z kartą).",
            ),
            Self::NothingToTell { chip } => pl(
                format!("Chip {chip} nie ma przedłużenia czekającego na zgłoszenie do USOS."),
                "Przedłuż kartę, kładąc ją na czytniku.",
            ),
            Self::Hologram(refused) => sticker_refused(refused),
            Self::StickerWithoutCard { chip } => pl(
                format!(
                    "Chipu {chip} nie ma w rejestrze tego stanowiska, więc naklejki nie można przypisać do karty: nic nie zapisano."
                ),
                "Zsynchronizuj rejestr (albo wydaj kartę na tym stanowisku), potem przedłuż ją ponownie.",
            ),
        }
    }
}

impl InPolish for HologramRefused {
    fn polish(&self) -> Polish {
        sticker_refused(self)
    }
}

/// A hologram sticker refused for a prolongation, at the desk or from USOS's data.
fn sticker_refused(refused: &HologramRefused) -> Polish {
    let cause = match refused {
        HologramRefused::NotInStock(number) => {
            format!("Naklejki {number} nie ma w zapasie hologramów tego stanowiska")
        }
        HologramRefused::OnCard { number, card_id } => {
            format!("Naklejka {number} jest już na karcie {card_id}")
        }
        HologramRefused::Printed {
            number,
            production_id,
        } => format!("Naklejkę {number} zużyło już stanowisko druku (produkcja {production_id})"),
        HologramRefused::Reserved { number, batch_id } => {
            format!("Naklejka {number} jest zarezerwowana dla partii druku {batch_id}")
        }
    };
    let next = match refused {
        HologramRefused::NotInStock(_) => {
            "Sprawdź numer na naklejce albo dodaj dostawę do zapasu (cardstation holograms add PIERWSZY OSTATNI)."
        }
        _ => "Weź następną naklejkę z rolki i zeskanuj jej numer.",
    };
    pl(format!("{cause}: nic nie zapisano."), next)
}

impl InPolish for NoticeError {
    fn polish(&self) -> Polish {
        match self {
            Self::Denied(err) => err.polish(),
            Self::Usos(err) => err.polish(),
        }
    }
}

impl InPolish for IssueError {
    fn polish(&self) -> Polish {
        match self {
            Self::Card(err) => err.polish(),
            Self::ReaderGoneDuringWrite { reader } => pl(
                format!(
                    "Czytnik „{reader}” odłączono w trakcie zapisu: karta może być zapisana tylko częściowo."
                ),
                "Podłącz czytnik ponownie, z tą samą kartą: zostanie sprawdzona, a zapis dokończony lub powtórzony.",
            ),
            Self::WrongCard { card, data } => pl(
                format!(
                    "To nie jest karta dla tych danych: dane wskazują chip {data}, a karta to chip {card}."
                ),
                "Połóż na czytniku kartę właściwego studenta.",
            ),
            Self::Sign(_) => pl(
                "Nie można podpisać danych karty.",
                "Popraw dane posiadacza karty.",
            ),
            Self::Key(_) => pl(
                "Nie można wyprowadzić klucza zapisu karty.",
                "Sprawdź klucz karty w profilu.",
            ),
            Self::NotVerified(_) => pl(
                "Kartę zapisano, ale jej zawartość nie przechodzi weryfikacji.",
                WRITE_AGAIN,
            ),
            Self::ReadBackMismatch => {
                pl("Kartę zapisano, ale odczyt daje inne bajty.", WRITE_AGAIN)
            }
            Self::Certificate(_) => pl(
                "Nie można zakodować certyfikatu.",
                "Sprawdź certyfikat podpisującego.",
            ),
        }
    }
}

const WRITE_AGAIN: &str =
    "Zapisz kartę ponownie; jeśli to się powtarza, karta jest uszkodzona: wydaj duplikat.";

impl InPolish for CardholderRecordError {
    fn polish(&self) -> Polish {
        match self {
            Self::Store(err) => err.polish(),
            Self::Incomplete { cardholder_id, .. } => pl(
                format!("W rekordzie posiadacza {cardholder_id} brakuje danych, które nosi karta."),
                "Najpierw uzupełnij rekord posiadacza karty.",
            ),
            Self::ForeignChip {
                chip,
                owner,
                cardholder_id,
            } => pl(
                format!("Chip {chip} należy do karty posiadacza {owner}, nie {cardholder_id}."),
                "Zdejmij kartę z czytnika i połóż czystą kartę dla tego posiadacza.",
            ),
        }
    }
}

fn station_pl(role: Role) -> &'static str {
    match role {
        Role::Issuance => "stanowisko wydawania",
        Role::Print => "stanowisko druku",
        Role::Kiosk => "kiosk",
    }
}

fn operator_role_pl(role: OperatorRole) -> &'static str {
    match role {
        OperatorRole::Operator => "operator",
        OperatorRole::Printer => "drukarz",
        OperatorRole::Admin => "administrator",
    }
}

fn action_pl(action: Action) -> &'static str {
    match action {
        Action::IssueCard => "wydawać kart",
        Action::ProlongCard => "przedłużać kart",
        Action::BlockCard => "blokować kart",
        Action::UnblockCard => "odblokowywać kart",
        Action::EditPeople => "edytować danych osób",
        Action::PrintCards => "drukować kart",
        Action::ManageOperators => "zarządzać operatorami",
        Action::ManageTrust => "zarządzać zaufanymi wystawcami",
        Action::NotifyHolder => "wysyłać powiadomień do posiadaczy kart",
    }
}

impl InPolish for Denied {
    fn polish(&self) -> Polish {
        match self {
            Self::Station { station, action } => pl(
                format!(
                    "{} nie może {}.",
                    capitalised(station_pl(*station)),
                    action_pl(*action)
                ),
                "Zrób to na stanowisku z właściwym profilem.",
            ),
            Self::Operator {
                operator,
                role,
                action,
            } => pl(
                format!(
                    "{operator} (rola: {}) nie może {}.",
                    operator_role_pl(*role),
                    action_pl(*action)
                ),
                "Poproś operatora z właściwą rolą albo administratora.",
            ),
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

impl InPolish for PolicyError {
    fn polish(&self) -> Polish {
        match self {
            Self::Store(err) => err.polish(),
            Self::DamagedIssuer(_) => pl(
                "Certyfikat zaufanego wystawcy w bazie jest uszkodzony.",
                "Usuń go i dodaj ponownie: cardstation trust add.",
            ),
            Self::Config(err) => err.polish(),
        }
    }
}

impl InPolish for BatchError {
    fn polish(&self) -> Polish {
        match self {
            Self::Denied(err) => err.polish(),
            Self::Store(err) => err.polish(),
            Self::Feed(err) => {
                let inner = err.polish();
                pl(
                    format!("Drukarka nie podała karty do enkodera: {}", inner.cause),
                    &inner.next_step,
                )
            }
            Self::Print(err) => err.polish(),
        }
    }
}

impl InPolish for CardFailure {
    fn polish(&self) -> Polish {
        let (what, inner) = match self {
            Self::Desfire(err) => ("Kodowanie DESFire nieudane", err.polish()),
            Self::Els(err) => ("Kodowanie ELS nieudane", err.polish()),
            Self::Print(err) => ("Kartę zakodowano, ale nie wydrukowano", err.polish()),
        };
        pl(format!("{what}: {}", inner.cause), &inner.next_step)
    }
}

impl InPolish for PrepareError {
    fn polish(&self) -> Polish {
        match self {
            Self::Store(err) => err.polish(),
            Self::Record(err) => err.polish(),
            Self::Render(err) => err.polish(),
            Self::NoExpiry { card, chip } => pl(
                format!(
                    "Karta {card} nie ma daty ważności, której potrzebuje {}.",
                    match chip {
                        Chip::Els => "ELS",
                        Chip::Desfire => "rekord DESFire",
                    }
                ),
                "Nadaj karcie datę ważności (zsynchronizuj ją z serwerem), potem uruchom partię ponownie.",
            ),
            Self::CardNumber(number) => pl(
                format!("Numer karty „{number}” nie jest liczbą, którą może nieść rekord DESFire."),
                "Nadaj karcie numer z samych cyfr (zsynchronizuj ją z serwerem), potem uruchom partię ponownie.",
            ),
            Self::NoLongerQueued { production, status } => pl(
                format!(
                    "Zlecenie {production} jest już {}.",
                    match status {
                        ProductionStatus::Cancelled => "anulowane",
                        ProductionStatus::Withdrawn => "wycofane",
                        ProductionStatus::Produced | ProductionStatus::ToBeActivated => {
                            "wydrukowane"
                        }
                        ProductionStatus::ToBeCreated | ProductionStatus::ToBeProduced => {
                            "w innym stanie"
                        }
                    }
                ),
                "Nic nie trzeba robić: zdjęto je z kolejki i nie zostało wydrukowane.",
            ),
        }
    }
}

impl InPolish for SetupError {
    fn polish(&self) -> Polish {
        let set_els = "Ustaw signer_key, signer_cert i card_key_env w sekcji [els] profilu.";
        match self {
            Self::NoSigner => pl(
                "Sekcja [els] profilu nie wskazuje klucza ani certyfikatu podpisu.",
                set_els,
            ),
            Self::NoCardKey => pl(
                "Sekcja [els] profilu nie wskazuje zmiennej z kluczem kart.",
                set_els,
            ),
            Self::CardKeyUnset(err) => err.polish(),
            Self::CardKeyInvalid(var, _) => pl(
                format!("Klucz kart odczytany z {var} jest nieprawidłowy."),
                "Wpisz klucz główny kart (hex, typu card_key_type z profilu) do tej zmiennej lub keyringu, potem uruchom stanowisko ponownie.",
            ),
            Self::Key(err) => err.polish(),
            Self::Desfire(err) => {
                let inner = err.polish();
                pl(
                    format!("Nie można wydać aplikacji DESFire: {}", inner.cause),
                    &inner.next_step,
                )
            }
        }
    }
}

impl InPolish for CsvImportError {
    fn polish(&self) -> Polish {
        match self {
            Self::Denied(err) => err.polish(),
            Self::Unreadable { source_name, .. } => pl(
                format!("Nie można odczytać pliku {source_name}."),
                "Sprawdź ścieżkę oraz to, że plik jest w formacie CSV zapisanym w UTF-8, z wierszem nagłówka.",
            ),
            Self::TooLarge { source_name } => pl(
                format!(
                    "Plik {source_name} jest większy niż {} MiB.",
                    MAX_FILE_BYTES / 1024 / 1024
                ),
                "Podziel plik na mniejsze i zaimportuj każdy z nich.",
            ),
            Self::NoColumn {
                source_name,
                missing,
            } => pl(
                format!("Plik {source_name} nie ma kolumny {missing}."),
                "Pierwszy wiersz musi nazywać kolumny: firstName, lastName, birthDate (opcjonalnie: middleName, personNumber, email, phoneNumber, mobileNumber, albumNumber, pesel).",
            ),
            Self::Stopped { done, total, cause } => pl(
                format!(
                    "Import przerwano po {done} z {total} wierszy: {}",
                    cause.polish().cause
                ),
                "Wcześniejsze wiersze są zapisane: usuń przyczynę i zaimportuj ten sam plik ponownie (zaimportowane wiersze zostaną rozpoznane, nie zdublowane).",
            ),
        }
    }
}

impl InPolish for DeskError {
    fn polish(&self) -> Polish {
        match self {
            Self::Denied(err) => err.polish(),
            Self::Issue(err) => err.polish(),
            Self::Record(err) => err.polish(),
            Self::Desfire(err) => err.polish(),
            Self::BadCardNumber { card_id, number } => pl(
                format!(
                    "Numer karty {card_id} („{number}”) nie jest liczbą, którą może zawierać rekord DESFire: nic nie zapisano."
                ),
                "Popraw numer karty na serwerze i zsynchronizuj, potem wydaj kartę ponownie.",
            ),
            Self::NeedsDuplicateReason { card_id } => pl(
                format!("Posiadacz ma już kartę {card_id} w użyciu."),
                "Wydaj duplikat i podaj powód (zgubiona lub zniszczona) albo najpierw zablokuj starą kartę.",
            ),
            Self::NotTheChosenCard {
                card_id,
                chosen,
                on_reader,
            } => pl(
                format!(
                    "Karta na czytniku to chip {on_reader}, a nie karta {card_id} (chip {chosen}): nic nie zapisano."
                ),
                "Połóż wybraną kartę na czytniku i przedłuż ją ponownie.",
            ),
            Self::NoContactChip { card_id } => pl(
                format!(
                    "Karta {card_id} nie ma w rejestrze chipu stykowego, więc stanowisko nie może jej sprawdzić."
                ),
                "Wydaj posiadaczowi nową kartę na tym stanowisku.",
            ),
            Self::Hologram(refused) => sticker_refused(refused),
            Self::Expiry(refused) => pl(
                match refused {
                    ExpiryRefused::InThePast(new) => {
                        format!("Nowa data ważności {new} już minęła: nic nie zapisano.")
                    }
                    ExpiryRefused::NotLater { new, current } => format!(
                        "Nowa data ważności {new} nie jest późniejsza niż obecna ({current}): nic nie zapisano."
                    ),
                },
                "Wybierz datę późniejszą niż obecna ważność karty albo zostaw domyślną.",
            ),
        }
    }
}

impl InPolish for UsosError {
    fn polish(&self) -> Polish {
        match self {
            Self::Unreachable { url, .. } => pl(
                format!("Brak połączenia z API USOS pod {url}."),
                "Sprawdź sieć i [usos] url w profilu.",
            ),
            Self::Authentication { .. } => pl(
                "API USOS odrzuciło uwierzytelnienie OAuth.",
                "Sprawdź klucz i sekret konsumenta w zmiennych wskazanych w [usos] (oraz zegar stanowiska).",
            ),
            Self::NotFound { .. } => pl(
                "USOS nie ma takiego obiektu.",
                "Sprawdź w USOS wskazaną kartę lub użytkownika.",
            ),
            Self::ParamInvalid { param, .. } => pl(
                format!("USOS odrzucił parametr {param}."),
                "Popraw wskazany parametr.",
            ),
            Self::Api { status, code, .. } => pl(
                format!("API USOS odpowiedziało {code} (HTTP {status})."),
                if *status >= 500 {
                    "USOS ma awarię: spróbuj ponownie później."
                } else {
                    "Sprawdź komunikat USOS w dzienniku."
                },
            ),
            Self::BadResponse { .. } => pl("API USOS przysłało nieczytelną odpowiedź.", TRY_LATER),
            Self::TokenRequired { method } => pl(
                format!(
                    "{method} działa w imieniu użytkownika i wymaga tokenu OAuth, którego klient nie ma."
                ),
                "Ustaw [usos] token_env i token_secret_env na token dostępu użytkownika.",
            ),
        }
    }
}

impl InPolish for Id123Error {
    fn polish(&self) -> Polish {
        match self {
            Self::Unreachable { url, .. } => pl(
                format!("Brak połączenia z ID123 pod {url}."),
                "Sprawdź sieć i [id123] url w profilu.",
            ),
            Self::Unauthorized { .. } => pl(
                "ID123 odrzuciło klucz API.",
                "Sprawdź klucz API w zmiennej wskazanej przez [id123] api_key_env.",
            ),
            Self::Failure { code, .. } => pl(
                format!("ID123 odpowiedziało {code}."),
                "Sprawdź identyfikator szablonu karty.",
            ),
            Self::BadResponse { .. } => pl("ID123 przysłało nieczytelną odpowiedź.", TRY_LATER),
        }
    }
}

const QUEUED: &str = "lokalne zmiany czekają w kolejce";

impl InPolish for RemoteError {
    fn polish(&self) -> Polish {
        match self {
            Self::Unreachable { url, .. } => pl(
                format!("Brak połączenia z serwerem CardExchange pod {url}."),
                &format!("Sprawdź sieć i [server] url w profilu; {QUEUED}."),
            ),
            Self::Unauthorized { .. } => pl(
                "Serwer CardExchange odrzucił klucz API.",
                "Sprawdź klucz API w zmiennej wskazanej przez [server] api_key_env.",
            ),
            Self::Problem { status, .. } => pl(
                format!("Serwer CardExchange odrzucił żądanie (HTTP {status})."),
                &match status {
                    500.. => format!("Serwer ma awarię: spróbuj ponownie później; {QUEUED}."),
                    429 => format!(
                        "Serwer ogranicza liczbę żądań: synchronizuj ponownie za kilka minut; {QUEUED}."
                    ),
                    _ => "Popraw wskazany rekord, potem synchronizuj ponownie.".to_owned(),
                },
            ),
            Self::BadResponse { .. } => pl(
                "Serwer CardExchange przysłał nieczytelną odpowiedź.",
                TRY_LATER,
            ),
            Self::TooLarge { url, .. } => pl(
                format!("Serwer CardExchange pod {url} przysłał za dużo danych."),
                "Sprawdź, czy [server] url wskazuje API CardExchange (a nie plik do pobrania lub stronę proxy); jeśli tak, zgłoś to operatorowi serwera.",
            ),
        }
    }
}

impl InPolish for ImportError {
    fn polish(&self) -> Polish {
        match self {
            Self::Remote(err) => err.polish(),
            Self::Store(err) => err.polish(),
        }
    }
}

fn resource_pl(resource: Resource) -> &'static str {
    match resource {
        Resource::Persons => "osoby",
        Resource::Addresses => "adresy",
        Resource::Cardholders => "posiadacze kart",
        Resource::Cards => "karty",
        Resource::Productions => "produkcja",
        Resource::AnonymousSets => "zestawy anonimowe",
    }
}

impl InPolish for SyncError {
    fn polish(&self) -> Polish {
        match self {
            Self::Remote(err) => err.polish(),
            Self::Store(err) => err.polish(),
            Self::PushBusy => pl(
                "Inna synchronizacja tej stacji właśnie wysyła zmiany; ta niczego nie wysłała.",
                "Poczekaj, aż tamta synchronizacja (okno, `sync --watch`) skończy, potem zsynchronizuj ponownie; zmiany lokalne czekają w kolejce.",
            ),
            Self::Cancelled => pl(
                "Synchronizację przerwano; to, co zrobiono, zostaje.",
                "Uruchom synchronizację ponownie, aby ją dokończyć.",
            ),
            Self::MassDeletion {
                resource,
                listed,
                known,
                unlisted,
            } => pl(
                format!(
                    "Serwer podaje {listed} pozycji ({}), ale {unlisted} z {known} znanych tej stacji brakuje: niczego nie oznaczono jako usunięte.",
                    resource_pl(*resource)
                ),
                "Sprawdź [server] url i klucz API w profilu (środowisko produkcyjne czy testowe); jeśli serwer naprawdę je usunął, uruchom cardstation sync --once --accept-deletions.",
            ),
        }
    }
}

impl InPolish for SignInError {
    fn polish(&self) -> Polish {
        match self {
            Self::Refused => pl(
                format!(
                    "Nieznany operator lub błędny PIN ({MAX_FAILED_ATTEMPTS} błędnych PIN-ów z rzędu blokuje nazwę na pewien czas)."
                ),
                "Sprawdź nazwę i wpisz PIN ponownie.",
            ),
            Self::LockedOut { until } => pl(
                format!(
                    "Operator zablokowany po {MAX_FAILED_ATTEMPTS} błędnych PIN-ach do {until} UTC."
                ),
                "Poczekaj do końca blokady albo poproś administratora o nowy PIN.",
            ),
            Self::Store(_) => pl(
                "Błąd bazy podczas logowania.",
                "Sprawdź bazę (zob. dziennik), potem zaloguj się ponownie.",
            ),
        }
    }
}

impl InPolish for StoreError {
    fn polish(&self) -> Polish {
        match self {
            Self::CannotOpen { path, .. } => pl(
                format!("Nie można otworzyć bazy {}.", path.display()),
                "Sprawdź, czy katalog istnieje i można w nim pisać, albo wskaż inny plik przez --db.",
            ),
            Self::SchemaTooNew { path, found, known } => pl(
                format!(
                    "Baza {} ma wersję schematu {found}, nowszą niż znana temu programowi ({known}).",
                    path.display()
                ),
                "Zainstaluj nowszy Cardstation, który zapisał tę bazę, albo użyj innego pliku przez --db.",
            ),
            Self::DiskFull => pl(
                "Dysk z bazą jest pełny.",
                "Zwolnij miejsce na dysku i powtórz czynność (nic nie zapisano).",
            ),
            Self::ReadOnly => pl(
                "Baza jest tylko do odczytu.",
                "Pozwól temu użytkownikowi pisać w pliku bazy i jej katalogu (nic nie zapisano).",
            ),
            Self::Locked => pl(
                "Baza jest zablokowana przez inny proces.",
                "Inny Cardstation (lub synchronizacja) trzyma bazę: poczekaj na niego i powtórz.",
            ),
            Self::Corrupt => pl(
                "Plik bazy jest uszkodzony lub nie jest bazą Cardstation.",
                "Odtwórz bazę z kopii zapasowej albo przenieś ją i zsynchronizuj ponownie z serwera.",
            ),
            Self::NotFound { id, .. } => pl(
                format!("Brak rekordu o id {id}."),
                "Sprawdź id (rekord mógł zostać usunięty przez synchronizację).",
            ),
            Self::Constraint(_) => pl(
                "Baza odrzuciła zmianę.",
                "Sprawdź dane względem istniejących rekordów.",
            ),
            Self::Invalid(_) => pl("Nieprawidłowe dane.", "Popraw dane i powtórz."),
            Self::Sticker(refused) => sticker_refused(refused),
            Self::HologramsShort { needed, free } => pl(
                format!(
                    "Partia potrzebuje {needed} naklejek holograficznych, a w zapasie jest {free} wolnych."
                ),
                "Dodaj numery nowych rolek naklejek (cardstation holograms add PIERWSZY OSTATNI), potem uruchom partię ponownie.",
            ),
            Self::Sqlite(_) => pl(
                "Błąd bazy danych.",
                "Powtórz czynność; jeśli błąd się powtarza, zgłoś go.",
            ),
        }
    }
}

impl InPolish for AddCrlError {
    fn polish(&self) -> Polish {
        match self {
            Self::Check(CrlError::Malformed(_)) => pl(
                "To nie jest lista odwołanych certyfikatów (CRL w DER lub PEM).",
                "Podaj plik CRL w formacie DER lub PEM.",
            ),
            Self::Check(CrlError::UnknownIssuer(issuer)) => pl(
                format!("Wystawca CRL {issuer} nie jest zaufanym certyfikatem tej stacji."),
                "Najpierw dodaj jego wystawcę do zaufanych (`cardstation trust add CA.pem`) albo sprawdź plik.",
            ),
            Self::Check(CrlError::BadSignature { issuer, .. }) => pl(
                format!("Podpis CRL nie zgadza się z kluczem {issuer}."),
                "CRL jest uszkodzona lub podrobiona: pobierz ją ponownie od wystawcy.",
            ),
            Self::Check(CrlError::NotACrlSigner(issuer)) => pl(
                format!("{issuer} nie może podpisywać list CRL (brak cRLSign w keyUsage)."),
                "Poproś wystawcę o CRL podpisaną jego kluczem do CRL.",
            ),
            Self::Check(CrlError::Outdated { next_update, now }) => pl(
                format!("CRL jest nieaktualna: następna miała być {next_update} (teraz {now})."),
                "Pobierz aktualną CRL od wystawcy.",
            ),
            Self::Check(CrlError::NotYetIssued { this_update, now }) => pl(
                format!("CRL nie jest jeszcze ważna: wydano ją na {this_update} (teraz {now})."),
                "Sprawdź zegar tej stacji.",
            ),
            Self::Store(err) => err.polish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Failure, Problem};

    fn polish_of(err: impl Problem) -> Polish {
        let failure = Failure::from(err);
        let polish = *failure.polish.clone().expect("every Problem has Polish");
        assert_ne!(polish.cause, failure.cause, "{}", failure.key);
        assert_ne!(polish.next_step, failure.next_step, "{}", failure.key);
        polish
    }

    #[test]
    fn a_failure_from_any_layer_carries_its_polish_with_the_values_it_names() {
        let no_card = polish_of(TransportError::NoCard("Virtual PCD 00 01".into()));
        assert_eq!(no_card.cause, "Brak karty w czytniku „Virtual PCD 00 01”.");
        assert_eq!(no_card.next_step, "Połóż kartę na czytniku.");
        // A wrapper shows what it wraps, down to the layer that failed.
        let removed = polish_of(DeskError::Issue(IssueError::Card(ElsCardError::Transport(
            TransportError::CardRemoved,
        ))));
        assert_eq!(removed, TransportError::CardRemoved.polish());
        // A nested case keeps its own next step, as the English one does.
        let mid_write = polish_of(DesfireIssueError::Card(DesfireError::Transport(
            TransportError::CardRemoved,
        )));
        assert!(mid_write.next_step.contains("wycofała"), "{mid_write:?}");
        let down = polish_of(SyncError::Remote(RemoteError::Problem {
            status: 503,
            title: "Service Unavailable".into(),
            detail: "maintenance".into(),
            errors: Default::default(),
        }));
        assert!(down.cause.contains("503") && down.next_step.contains("awarię"));
        let refused = polish_of(SignInError::Refused);
        assert!(refused.cause.contains(&MAX_FAILED_ATTEMPTS.to_string()));
    }

    #[test]
    fn a_secrets_polish_names_its_variable_never_a_value() {
        let missing = polish_of(ConfigError::BadSecret {
            var: "CS_CARD_KEY".into(),
            expected: "32 hex digits".into(),
        });
        assert!(missing.cause.contains("CS_CARD_KEY"), "{missing:?}");
    }
}
