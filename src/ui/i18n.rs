//! UI text in Polish and English: every string of the window comes from the [`Text`]
//! catalogue, one entry per string with both languages side by side; the compiler refuses a
//! key without both.

use crate::config::Language;

/// The language of the system locale (`LC_ALL`, `LC_MESSAGES`, `LANG`): Polish for `pl*`,
/// English otherwise.
pub fn system_language() -> Language {
    let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|value| !value.is_empty())
        .unwrap_or_default();
    if locale.to_lowercase().starts_with("pl") {
        Language::Pl
    } else {
        Language::En
    }
}

macro_rules! catalogue {
    ($($key:ident => $pl:literal, $en:literal;)+) => {
        /// Every string of the window.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Text { $($key,)+ }

        impl Text {
            pub const ALL: &[Text] = &[$(Text::$key,)+];
        }

        /// The string for `key` in `language`.
        pub fn t(language: Language, key: Text) -> &'static str {
            match (key, language) {
                $((Text::$key, Language::Pl) => $pl, (Text::$key, Language::En) => $en,)+
            }
        }
    };
}

catalogue! {
    SignInTitle => "Zaloguj się", "Sign in";
    OperatorName => "Operator", "Operator";
    Pin => "PIN", "PIN";
    SignIn => "Zaloguj", "Sign in";
    SignOut => "Wyloguj", "Sign out";
    SigningIn => "Sprawdzanie…", "Checking…";
    CheckingCard => "Sprawdzanie karty…", "Checking the card…";
    EnterNameAndPin => "Wpisz nazwę operatora i PIN.", "Enter your name and PIN.";
    DemoOperators => "Demo: anna / 1111 (wydawanie), piotr / 2222 (druk), admin / 0000", "Demo: anna / 1111 (desk), piotr / 2222 (printing), admin / 0000";
    OpeningStore => "Otwieranie bazy…", "Opening the store…";
    StoreProblem => "Nie można otworzyć bazy:", "The store cannot be opened:";
    SearchPlaceholder => "Nazwisko, imię, nr albumu lub PESEL", "Surname, name, album no. or PESEL";
    SearchHint => "Zacznij pisać, aby wyszukać; ↑ ↓ wybór, Enter otwiera", "Start typing to search; ↑ ↓ to choose, Enter opens";
    NoMatches => "Brak wyników", "No matches";
    PickSomeone => "Wyszukaj osobę, aby zobaczyć jej dane i karty", "Search for someone to see their data and cards";
    Album => "Album", "Album";
    Born => "ur.", "born";
    Cardholder => "Posiadacz karty", "Cardholder";
    NoCardholder => "Brak rekordu posiadacza karty", "No cardholder record";
    Cards => "Karty", "Cards";
    NoCards => "Brak kart", "No cards yet";
    ValidUntil => "ważna do", "valid until";
    Block => "Zablokuj", "Block";
    Prolong => "Przedłuż", "Prolong";
    Unblock => "Odblokuj", "Unblock";
    Prolonged => "Przedłużono:", "Prolonged:";
    BlockedCard => "Zablokowano kartę", "Blocked card";
    UnblockedCard => "Odblokowano kartę", "Unblocked card";
    MayNotIssue => "Twoja rola nie pozwala wydawać kart na tym stanowisku.", "Your role may not issue cards at this station.";
    LoadingSigner => "Wczytywanie klucza podpisu…", "Loading the signing key…";
    CannotIssue => "Wydawanie niedostępne:", "Issuance unavailable:";
    IssueCard => "Wydaj legitymację", "Issue card";
    PutCardOnReader => "Połóż kartę na czytniku", "Put the card on the reader";
    PutBackToResume => "Karta zabrana w trakcie zapisu: połóż ją z powrotem, aby dokończyć", "The card left mid-write: put it back to resume";
    ReaderGoneMidWrite => "Czytnik odłączono w trakcie zapisu: karta może być zapisana tylko częściowo", "The reader was disconnected during the write: the card may be half written";
    PlugReaderBackToFinish => "Podłącz czytnik ponownie, z tą samą kartą: zostanie sprawdzona, a zapis dokończony lub powtórzony", "Plug the reader back in with the same card on it: the card is checked, then finished or rewritten";
    Issued => "Wydano kartę", "Card issued";
    DesfireIssued => "Aplikacja DESFire zapisana, układ bezstykowy", "DESFire application written, contactless chip";
    DesfireNoNumber => "Aplikacji DESFire nie zapisano: karta nie ma jeszcze numeru. Zapisano tylko ELS.", "The DESFire application was not written: the card has no number yet. Only the ELS was written.";
    DesfireNoNumberNext => "Zsynchronizuj ze serwerem albo zamów kartę, aby produkcja nadała jej numer, i wydaj kartę ponownie.", "Sync with the server, or order the card so production numbers it, then issue the card again.";
    DuplicateLost => "Duplikat: zgubiona", "Duplicate: lost";
    DuplicateDamaged => "Duplikat: zniszczona", "Duplicate: damaged";
    DuplicateLostChosen => "Duplikat: stara karta zostanie zablokowana (zgubiona). Kliknij „Wydaj legitymację”.", "Duplicate: the old card will be blocked (lost). Press \"Issue card\".";
    DuplicateDamagedChosen => "Duplikat: stara karta zostanie wycofana (zniszczona). Kliknij „Wydaj legitymację”.", "Duplicate: the old card will be withdrawn (damaged). Press \"Issue card\".";
    StepUid => "UID", "UID";
    StepData => "Dane", "Data";
    StepSign => "Podpis", "Sign";
    StepWrite => "Zapis", "Write";
    StepVerify => "Weryfikacja", "Verify";
    StepRecord => "Rejestr", "Record";
    TabWork => "Praca", "Work";
    TabReaders => "Czytniki", "Readers";
    TabSettings => "Ustawienia", "Settings";
    Readers => "Czytniki", "Readers";
    NoReader => "brak czytnika", "no reader";
    CardIn => "karta", "card";
    LastSync => "Synchronizacja", "Last sync";
    Never => "nigdy", "never";
    Pending => "do wysłania", "pending";
    NoServer => "bez serwera", "no server";
    TestMode => "TRYB TESTOWY", "TEST MODE";
    LiveMode => "DANE PRODUKCYJNE", "LIVE DATA";
    Language => "English", "Polski";
    Profile => "Profil", "Profile";
    Role => "Rola", "Role";
    Database => "Baza danych", "Database";
    TrustedIssuers => "Zaufani wystawcy", "Trusted issuers";
    NoTrustedIssuers => "Brak – karty weryfikowane certyfikatem z karty", "None – cards are checked with the certificate on the card";
    Conflicts => "Konflikty synchronizacji", "Sync conflicts";
    NoConflicts => "Brak konfliktów", "No conflicts";
    ConflictTime => "Czas", "Time";
    ConflictObject => "Obiekt", "Object";
    ConflictField => "Pole", "Field";
    ConflictLocalValue => "Wartość lokalna", "Local value";
    ConflictServerValue => "Wartość na serwerze", "Server value";
    ConflictRule => "Zastosowana reguła", "Rule applied";
    ConflictServerWins => "wygrywa serwer: lokalna zmiana odrzucona", "server wins: the local change was dropped";
    ConflictStationStatusKept => "status karty ze stanowiska zachowany i wysłany ponownie", "the station's card status is kept and pushed again";
    ConflictsNewestShown => "Pokazano tylko najnowsze:", "Only the newest are shown:";
    AuditLog => "Dziennik audytu", "Audit log";
    AuditFilter => "Filtr: operator, czynność lub obiekt", "Filter: operator, action or subject";
    AuditIntact => "Łańcuch skrótów nienaruszony", "Hash chain intact";
    AuditBroken => "Łańcuch skrótów NARUSZONY:", "Hash chain BROKEN:";
    PrintQueue => "Kolejka druku", "Print queue";
    QueueEmpty => "Kolejka jest pusta", "The queue is empty";
    Tries => "prób", "tries";
    PrinterUnavailable => "Drukarka niedostępna:", "Printer unavailable:";
    FailedCards => "Karty nieudane (do ponowienia)", "Cards that failed (to retry)";
    Resume => "Wznów", "Resume";
    Pause => "Wstrzymaj", "Pause";
    Cancel => "Anuluj", "Cancel";
    StartBatch => "Drukuj kolejkę", "Print the queue";
    BatchDone => "Partia zakończona", "Batch finished";
    Printed => "wydrukowano", "printed";
    Rejected => "odrzucono", "rejected";
    LeftInQueue => "zostało w kolejce", "left in the queue";
    MayNotPrint => "Twoja rola nie pozwala drukować kart.", "Your role may not print cards.";
    QueueSearch => "Szukaj: nazwisko, album lub numer karty", "Search: name, album or card number";
    PrintSelected => "Drukuj zaznaczone", "Print selected";
    PrintShown => "Drukuj wszystkie widoczne", "Print all shown";
    AllCardTypes => "Wszystkie typy kart", "All card types";
    StudentCards => "Legitymacje studenckie", "Student cards";
    DoctoralCards => "Legitymacje doktoranckie", "Doctoral cards";
    StaffCards => "Legitymacje pracownicze", "Staff cards";
    PrintedCards => "Wydrukowane", "Printed";
    NothingPrinted => "Brak wydrukowanych kart", "No printed cards";
    Reprint => "Drukuj ponownie", "Reprint";
    CancelOrder => "Anuluj zamówienie", "Cancel order";
    Withdraw => "Wycofaj", "Withdraw";
    ReprintWhy => "Dlaczego karta jest drukowana ponownie?", "Why is the card printed again?";
    CancelOrderWhy => "Dlaczego zamówienie jest anulowane?", "Why is the order cancelled?";
    WithdrawWhy => "Dlaczego karta jest wycofywana?", "Why is the card withdrawn?";
    ChangeReasonPlaceholder => "np. uszkodzona, błąd nadruku, zamówiona dwa razy", "e.g. damaged, misprint, ordered twice";
    ConfirmReprint => "Tak, drukuj ponownie", "Yes, print it again";
    ConfirmCancelOrder => "Tak, anuluj zamówienie", "Yes, cancel the order";
    ConfirmWithdraw => "Tak, wycofaj kartę", "Yes, withdraw the card";
    ReprintWarning => "Karta wraca do kolejki jako kolejna próba; serwer dowie się o tym przy synchronizacji.", "The card goes back to the queue as one more try; the server hears of it at the sync.";
    CancelOrderWarning => "Zamówienie nigdy nie zostanie wydrukowane, a jego karta zostanie wycofana.", "The order never prints and its card is withdrawn.";
    WithdrawWarning => "Karta zostanie wycofana i przestanie działać we wszystkich kioskach.", "The card is withdrawn and stops working at every kiosk.";
    ChangeNeedsReason => "Podaj powód, aby kontynuować.", "Give a reason to go on.";
    Back => "Wróć", "Back";
    ReprintDone => "Z powrotem w kolejce:", "Back in the queue:";
    CancelOrderDone => "Anulowano zamówienie:", "Order cancelled:";
    WithdrawDone => "Wycofano kartę:", "Card withdrawn:";
    StatusPersonalized => "spersonalizowana", "personalised";
    StatusActive => "aktywna", "active";
    StatusBlocked => "zablokowana", "blocked";
    StatusWithdrawn => "wycofana", "withdrawn";
    StatusExpired => "wygasła", "expired";
    StatusInitialized => "zainicjowana", "initialised";
    StatusInProduction => "w produkcji", "in production";
    StatusBlacklisted => "na czarnej liście", "blacklisted";
    StatusReturned => "zwrócona", "returned";
    StatusDestroyed => "zniszczona", "destroyed";
    StatusLinked => "powiązana", "linked";
    StatusUnlinked => "odłączona", "unlinked";
    RoleOperator => "operator", "operator";
    RolePrinter => "drukarz", "printer";
    RoleAdmin => "administrator", "administrator";
    AuditRow => "wiersz", "row";
    ConnectingToTheSmartCard => "Łączenie z usługą kart…", "Connecting to the smart-card service…";
    TheSmartCardServicePcscd => "Usługa kart (pcscd) nie działa.", "The smart-card service (pcscd) is not running.";
    InstallAndStartItApt => "Zainstaluj i uruchom: apt-get install pcscd vsmartcard-vpcd && pcscd. Okno połączy się samo.", "Install and start it: apt-get install pcscd vsmartcard-vpcd && pcscd. This window reconnects by itself.";
    NoReadersConnectACard => "Brak czytników. Podłącz czytnik kart.", "No readers. Connect a card reader.";
    NoCard => "Brak karty", "No card";
    UIDReading => "UID: odczyt…", "UID: reading…";
    UIDReadOnTab => "UID jest odczytywany na karcie Czytniki", "The UID is read on the Readers tab";
    UIDNotRead => "Nie odczytano UID", "UID not read";
    Starting => "Uruchamianie…", "Starting…";
    KioskOutOfService => "Kiosk nieczynny", "Kiosk out of service";
    TapOrInsertYourCard => "Przyłóż legitymację do czytnika", "Tap or insert your card";
    PleaseTapTheCardAgain => "Przyłóż kartę ponownie", "Please tap the card again";
    HoldTheCardStill => "Przytrzymaj kartę przy czytniku aż do odpowiedzi.", "Hold the card still until the answer.";
    ReaderNotAnswering => "Czytnik kart nie odpowiada", "The card reader is not answering";
    UseAnotherKioskOrAskStaff => "Skorzystaj z innego kiosku lub poproś obsługę o pomoc.", "Please use another kiosk or ask the staff for help.";
    CardNotRead => "Nie udało się odczytać karty", "The card could not be read";
    TapAgainOrAskTheOffice => "Przyłóż kartę ponownie; jeśli to się powtórzy, zgłoś się do biura legitymacji.", "Tap the card again; if it happens again, please go to the ID office.";
    KioskExitTitle => "Zamknięcie kiosku", "Close the kiosk";
    Administrator => "Administrator", "Administrator";
    CloseKiosk => "Zamknij kiosk", "Close the kiosk";
    ValidUntilTitle => "Ważna do", "Valid until";
    ExpiredOn => "Termin ważności minął", "Expired on";
    HaveItProlongedAtThe => "Przedłuż legitymację w dziekanacie.", "Have it prolonged at the dean's office.";
    PleaseContactTheIDOffice => "Zgłoś się do biura legitymacji.", "Please contact the ID office.";
    ThisStationDoesNotKnow => "Ta karta nie jest znana temu stanowisku.", "This station does not know the card.";
    TheCardFailedVerificationPlease => "Karta nie przeszła weryfikacji. Zgłoś się do obsługi.", "The card failed verification. Please ask the staff.";
    CardValid => "Legitymacja ważna", "Card valid";
    CardExpired => "Legitymacja nieważna (termin minął)", "Card expired";
    CardBlocked => "Karta zablokowana", "Card blocked";
    CardNotKnown => "Karta nieznana", "Card not known";
    CardForged => "Karta podrobiona", "Card forged";
    DemoModeSimulatedCard => "Tryb demo: karta symulowana", "Demo mode: simulated card";
    IsInTheVirtualReader => "jest w czytniku wirtualnym.", "is in the virtual reader.";
    DemoModeTheSimulatedCard => "Tryb demo: nie włożono karty symulowanej:", "Demo mode: the simulated card is not inserted:";
    DemoStartTheSimulator => "uruchom scripts/demo.sh (kartę wkłada cardstation-sim).", "run scripts/demo.sh (cardstation-sim puts it in).";
    IssuanceDesk => "Stanowisko wydawania", "Issuance desk";
    PrintStation => "Stanowisko druku", "Print station";
    ValidationKiosk => "Kiosk weryfikacji", "Validation kiosk";
    Usos => "USOS", "USOS";
    UsosLoading => "Pobieranie danych z USOS…", "Asking USOS…";
    UsosConnecting => "Łączenie z USOS…", "Connecting to USOS…";
    UsosUnavailable => "USOS niedostępny (stanowisko działa dalej):", "USOS unavailable (the desk works on):";
    UsosNoLocalCards => "Brak kart do wyszukania: USOS pokazuje listę kart tylko samemu studentowi. Po wydaniu karty USOS odnajdzie ją po UID.", "No card to look up: USOS lists a student's cards only to the student. Once a card is issued, USOS finds it by its UID.";
    UsosNoneFound => "USOS nie zna żadnej z kart tej osoby.", "USOS knows none of this holder's cards.";
    UsosNotKnown => "Kart nieznanych w USOS:", "Cards USOS does not know:";
    UsosCard => "Karta USOS", "USOS card";
    UsosOwner => "właściciel w USOS:", "owner in USOS:";
    UsosBarcode => "kod", "barcode";
    UsosIssuedOn => "wydana", "issued";
    UsosMayBeWritten => "USOS: można zapisać", "USOS: may be written";
    UsosMayNotBeWritten => "USOS: zapis zablokowany", "USOS: may not be written";
    UsosPhones => "Telefony w USOS:", "Phones in USOS:";
    UsosNoPhones => "brak", "none";
    UsosPhonesUnavailable => "niedostępne", "not available";
    UsosMcardNote => "mLegitymacja: widoczna tylko dla studenta (wymaga jego tokenu USOS).", "mLegitymacja: shown to the student only (needs their own USOS token).";
    SendCardReady => "Wyślij powiadomienie o odbiorze", "Send card ready notice";
    SendingNotice => "Wysyłanie powiadomienia…", "Sending the notice…";
    NoticeSent => "Powiadomienie wysłane do użytkownika USOS", "Notice sent to USOS user";
    NoticeNotSent => "Nie wysłano powiadomienia:", "The notice was not sent:";
    MayNotNotify => "Twoja rola nie pozwala wysyłać powiadomień.", "Your role may not send notices.";
    UsosIssuance => "Wydanie z danych USOS: struktura podpisana przez USOS, klucz karty z USOS.", "Issuing from USOS's data: the structure USOS signed, the card key USOS gives.";
    UsosWrittenNotTold => "zapisano, USOS jeszcze nie wie", "written, USOS not told yet";
    RetryTellUsos => "Ponów", "Retry";
    UsosTold => "USOS wie o przedłużeniu karty", "USOS told of the prolongation of chip";
    CardTypeStudent => "studencka", "student";
    CardTypePhd => "doktorancka", "doctoral";
    CardTypeStaff => "pracownicza", "staff";
    CardTypeGraduate => "absolwenta", "graduate";
    CardTypeTeacher => "nauczyciela akademickiego", "academic teacher";
    NewPerson => "Nowa osoba", "New person";
    EditPerson => "Edytuj dane", "Edit details";
    EditingPerson => "Edycja danych osoby", "Editing a person";
    FirstName => "Imię", "First name";
    MiddleName => "Drugie imię", "Middle name";
    LastName => "Nazwisko", "Surname";
    PeselField => "PESEL", "PESEL";
    BirthDate => "Data urodzenia", "Birth date";
    AlbumNumber => "Nr albumu", "Album number";
    Phone => "Telefon", "Phone";
    DatePlaceholder => "RRRR-MM-DD lub z PESEL", "YYYY-MM-DD or from the PESEL";
    Optional => "opcjonalnie", "optional";
    Save => "Zapisz", "Save";
    Saving => "Zapisywanie…", "Saving…";
    PersonSaved => "Zapisano:", "Saved:";
    SetPhoto => "Ustaw zdjęcie z pliku", "Set photo from file";
    PhotoPathPlaceholder => "Ścieżka do pliku JPEG lub PNG", "Path of a JPEG or PNG file";
    LoadPhoto => "Wczytaj", "Load";
    LoadingPhoto => "Wczytywanie i przycinanie zdjęcia…", "Loading and cropping the photo…";
    PhotoRules => "JPEG lub PNG, przycinane do ramki zdjęcia na karcie; najmniejszy kadr w pikselach (300 dpi):", "JPEG or PNG, cropped to the card's photo frame; smallest crop in pixels (300 dpi):";
    PhotoPreview => "Podgląd: zdjęcie przycięte do ramki na karcie", "Preview: the photo cropped to the card's frame";
    Pixels => "px", "px";
    Kilobytes => "kB", "kB";
    SavePhoto => "Zapisz zdjęcie", "Save photo";
    PhotoSaved => "Zapisano zdjęcie:", "Photo saved:";
    FixTheMarkedFields => "Popraw zaznaczone pola.", "Correct the marked fields.";
    ProblemRequired => "Pole wymagane", "Required";
    ProblemNotAName => "Tylko litery, spacje, łącznik i apostrof", "Letters, spaces, hyphens and apostrophes only";
    ProblemPeselLength => "PESEL ma 11 cyfr", "A PESEL has 11 digits";
    ProblemPeselNotDigits => "PESEL składa się tylko z cyfr", "A PESEL has digits only";
    ProblemPeselDate => "PESEL nie zawiera prawdziwej daty urodzenia", "The PESEL holds no real birth date";
    ProblemPeselCheckDigit => "Błędna cyfra kontrolna PESEL", "The PESEL's check digit is wrong";
    ProblemNotADate => "Data w postaci RRRR-MM-DD", "A date as YYYY-MM-DD";
    ProblemNotThePeselDate => "Inna niż data zapisana w PESEL", "Differs from the date in the PESEL";
    ProblemNotAnAlbumNumber => "Litery, cyfry, / i -, do 20 znaków", "Letters, digits, / and -, up to 20 characters";
    ProblemNotAPhone => "9–15 cyfr, np. +48 600 100 200", "9–15 digits, e.g. +48 600 100 200";
    ImportCsv => "Importuj CSV", "Import CSV";
    ImportTitle => "Import osób z pliku CSV", "Import people from a CSV file";
    ImportColumns => "Kolumny: firstName, lastName, birthDate (wymagane); middleName, personNumber, email, phoneNumber, mobileNumber, albumNumber, pesel. Plik w UTF-8, pola rozdzielone przecinkiem lub średnikiem. Osoby już zaimportowane są aktualizowane, nie dublowane.", "Columns: firstName, lastName, birthDate (required); middleName, personNumber, email, phoneNumber, mobileNumber, albumNumber, pesel. A UTF-8 file, fields separated by commas or semicolons. People imported before are updated, not doubled.";
    ImportPathPlaceholder => "Ścieżka do pliku, np. /home/biuro/studenci.csv", "Path to the file, e.g. /home/office/students.csv";
    ImportStart => "Importuj", "Import";
    Close => "Zamknij", "Close";
    ImportReading => "Odczyt i sprawdzanie pliku…", "Reading and checking the file…";
    ImportWritten => "Zapisano wierszy:", "Rows written:";
    ImportImported => "Zaimportowano", "Imported";
    ImportUpdated => "Zaktualizowano", "Updated";
    ImportUnchanged => "Bez zmian", "Unchanged";
    ImportRejected => "Odrzucono", "Rejected";
    ImportRejectedRows => "Odrzucone wiersze", "Rejected rows";
    ImportLine => "Wiersz", "Line";
    ImportMoreRejected => "…i więcej odrzuconych wierszy:", "…and more rejected rows:";
    ImportNotUtf8 => "Tekst nie w UTF-8: zapisz plik jako CSV UTF-8", "Not UTF-8 text: save the file as CSV UTF-8";
    ImportTooLong => "Wiersz za długi; limit w KiB:", "The row is too long; the limit in KiB:";
    ImportFieldsInRow => "Pól w wierszu", "Fields in the row";
    ImportFieldsInHeader => "w nagłówku", "in the header";
    ImportSamePersonNumber => "Ten sam numer osoby co w wierszu", "The same person number as line";
    ImportSamePesel => "Ten sam PESEL co w wierszu", "The same PESEL as line";
    ImportSameAlbumNumber => "Ten sam nr albumu co w wierszu", "The same album number as line";
    ImportSameNameAndBirthDate => "To samo imię, nazwisko i data urodzenia co w wierszu", "The same name and birth date as line";
    ImportDeletedOnServer => "Osoba usunięta na serwerze", "The person was deleted on the server";
    ImportPeselOfAnother => "PESEL należy do osoby z innym numerem osoby", "The PESEL belongs to a person with another person number";
    ImportAmbiguous => "Pasuje kilka osób w bazie: nie wiadomo, którą zaktualizować", "Several people in the store match: which one to update is unclear";
    ImportStoreRefused => "Baza odrzuciła wiersz", "The store refused the row";
    BlockWhy => "Powód zablokowania karty", "Why is the card blocked?";
    BlockReasonPlaceholder => "np. zgubiona, skradziona", "e.g. lost, stolen";
    ConfirmBlock => "Zablokuj kartę", "Block the card";
    BlockWarning => "Zablokowana karta przestaje działać we wszystkich kioskach.", "A blocked card stops working at every kiosk.";
    BlockNeedsReason => "Podaj powód, aby zablokować kartę.", "Give a reason to block the card.";
    ProlongTitle => "Przedłużenie ważności", "Prolongation";
    StickerNumber => "Numer naklejki (hologram)", "Sticker number (hologram)";
    StickerPlaceholder => "zeskanuj lub wpisz", "scan or type";
    NewExpiry => "Nowa data ważności", "New expiry";
    ExpiryFromUsos => "podpisana przez USOS", "signed by USOS";
    DatePlaceholderPlain => "RRRR-MM-DD", "YYYY-MM-DD";
    ConfirmProlong => "Przedłuż kartę", "Prolong the card";
    ProlongHint => "Połóż kartę na czytniku i zatwierdź (Enter).", "Put the card on the reader and confirm (Enter).";
    ProlongWriting => "Zapisywanie na karcie…", "Writing to the card…";
    Sticker => "naklejka", "sticker";
    StickersLeft => "Naklejek w zapasie:", "Stickers left:";
    StickersLow => "Kończą się naklejki: dodaj dostawę do zapasu (cardstation holograms add).", "Stickers are running low: add a delivery to the stock (cardstation holograms add).";
    StickersReserved => "Naklejki zarezerwowane dla partii:", "Stickers reserved for the batch:";
    ProblemStickerMissing => "Zeskanuj lub wpisz numer naklejki", "Scan or type the sticker number";
    ProblemStickerNotANumber => "Numer naklejki składa się tylko z cyfr", "A sticker number has digits only";
    ProblemExpiryPast => "Ta data już minęła", "This date is in the past";
    ProblemExpiryNotLater => "Musi być późniejsza niż obecna ważność", "Must be after the current expiry";
    SyncNow => "Synchronizuj teraz", "Sync now";
    SyncSending => "Wysyłanie zmian", "Sending changes";
    SyncPulling => "Pobieranie", "Receiving";
    SyncStarting => "Synchronizacja…", "Syncing…";
    SyncFailed => "Synchronizacja nieudana:", "Sync failed:";
    SyncNextTry => "następna próba", "next try";
    SyncOff => "Synchronizacja wyłączona:", "Sync is off:";
    ResourcePersons => "osoby", "persons";
    ResourceAddresses => "adresy", "addresses";
    ResourceCardholders => "posiadacze kart", "cardholders";
    ResourceCards => "karty", "cards";
    ResourceProductions => "produkcja", "productions";
    ResourceAnonymousSets => "zestawy anonimowe", "anonymous sets";
    // The kiosk's reason line: a refusal and how old the register is.
    DeletedOnTheServer => "usunięta na serwerze", "deleted on the server";
    RegisterSynced => "rejestr zsynchronizowany", "register last synced";
    HoursAgo => "h temu", "h ago";
    RegisterNeverSynced => "rejestr nigdy nie zsynchronizowany", "register never synced";
    BlocksFetched => "blokady pobrane", "blocks last fetched";
    SecondsAgo => "s temu", "s ago";
    OverTheLimit => "ponad limit", "over the limit of";
}

/// A card's status in `language` (the desk's card list, the kiosk's refusal).
pub fn card_status_name(status: crate::store::CardStatus, language: Language) -> &'static str {
    use crate::store::CardStatus;
    let key = match status {
        CardStatus::Personalized => Text::StatusPersonalized,
        CardStatus::Activated | CardStatus::Issued => Text::StatusActive,
        CardStatus::Blocked | CardStatus::BulkBlocked => Text::StatusBlocked,
        CardStatus::Withdrawn => Text::StatusWithdrawn,
        CardStatus::Expired => Text::StatusExpired,
        CardStatus::Initialized => Text::StatusInitialized,
        CardStatus::InProduction => Text::StatusInProduction,
        CardStatus::Blacklisted => Text::StatusBlacklisted,
        CardStatus::Returned => Text::StatusReturned,
        CardStatus::Destroyed => Text::StatusDestroyed,
        CardStatus::Linked => Text::StatusLinked,
        CardStatus::Unlinked => Text::StatusUnlinked,
    };
    t(language, key)
}

/// The Polish text of a verdict reason (`station::validate::Reason::key`), for the kiosk's
/// reason line; the English line is the verdict's own reason. A signature or DESFire failure
/// this catalogue does not name still reads in Polish.
pub fn reason_pl(key: &str) -> &'static str {
    match key {
        "valid" => "karta ważna",
        "valid_not_in_register" => "karta ważna; nie ma jej w rejestrze tej stacji",
        "valid_uid_only" => "rozpoznana tylko po UID (słabiej niż podpisany chip)",
        "refused" => "rejestr nie dopuszcza karty, status",
        "expired" => "ważna do",
        "signature.malformed" => "dane podpisu są uszkodzone",
        "signature.forged" => "podpis jest sfałszowany",
        "signature.untrusted_issuer" => "podpis wystawcy, któremu ta stacja nie ufa",
        "signature.wrong_chip" => "dane skopiowano z innego chipu",
        "signature.revoked" => "certyfikat podpisującego został unieważniony",
        "signature.certificate_not_valid" => {
            "certyfikat w ścieżce podpisu nie był ważny w chwili podpisu"
        }
        "signature.key_usage" => "certyfikat podpisującego nie służy do podpisywania",
        "signature.path_length" => "ścieżka certyfikatów jest dłuższa, niż pozwala wystawca",
        "signature.weak_key" => "podpis słabym kluczem (RSA poniżej 2048 bitów lub inna krzywa)",
        "signature.not_a_ca" => "certyfikat wystawił ktoś, kto nie jest urzędem certyfikacji",
        "unsupported_signature" => "podpis algorytmem, którego ta stacja nie sprawdza",
        "card_data_unreadable" => "danych karty nie da się odczytać jako legitymacji",
        "no_card_data" => "chip nie zawiera danych legitymacji",
        "record.authentication_refused" => "chip nie zna klucza odczytu tej uczelni",
        "record.forged" => "zapis na karcie jest sfałszowany lub skopiowany z innej karty",
        "copied_els" => {
            "dane legitymacji są prawdziwe, ale chip nie przeszedł uwierzytelnienia DESFire: kopia"
        }
        "cannot_check_desfire" => {
            "karta ma aplikację DESFire, a ta stacja nie ma jej ustawień: nie można potwierdzić chipu"
        }
        "tap_contactless" => {
            "przyłóż kartę do czytnika zbliżeniowego: jej chip potwierdza się tylko zbliżeniowo"
        }
        "signed_chip_missing" => {
            "karta wydana z podpisanym chipem nie pokazuje go: zgadza się tylko UID"
        }
        "desfire_missing" => {
            "karta wydana z aplikacją DESFire nie pokazuje jej: zgadza się tylko UID"
        }
        "uid_only_refused" => "karta dowodzi tylko swojego UID, który emulator może skopiować",
        "not_in_register" => "karty nie ma w rejestrze",
        "register_too_old" => "rejestr jest zbyt stary, by potwierdzić kartę znaną tylko z UID",
        "register_unreadable" => "nie można odczytać rejestru",
        key if key.starts_with("record.") => "zapis na karcie nie przeszedł weryfikacji",
        _ => "podpis nie przeszedł weryfikacji",
    }
}

/// What the verdict's evidence proves, in Polish (`station::validate::Evidence::detail`).
pub fn evidence_pl(evidence: crate::station::validate::Evidence) -> &'static str {
    use crate::station::validate::Evidence;
    match evidence {
        Evidence::SignedAndAuthenticatedChip => "podpis i chip uwierzytelnione",
        Evidence::AuthenticatedChip => "chip uwierzytelniony, zapis podpisany",
        Evidence::SignedChip => "tylko podpis, chip nieuwierzytelniony",
        Evidence::UidOnly => "tylko UID, chip nieuwierzytelniony",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_reason_has_polish_text() {
        use crate::station::validate::Reason;
        let fallback = reason_pl("signature.something_new");
        assert_eq!(fallback, "podpis nie przeszedł weryfikacji");
        for reason in Reason::ALL {
            let key = reason.key();
            let text = reason_pl(&key);
            assert!(!text.trim().is_empty(), "{key}");
            // Only a kind nobody named may fall back.
            assert!(
                text != fallback && text != reason_pl("record.something_new"),
                "{key} has no Polish text of its own"
            );
        }
    }

    #[test]
    fn every_catalogue_entry_has_text_in_both_languages() {
        for &key in Text::ALL {
            for language in [Language::Pl, Language::En] {
                let text = t(language, key);
                assert!(
                    !text.trim().is_empty() && text.trim() == text,
                    "{key:?} {language:?}"
                );
            }
        }
        assert_eq!(t(Language::Pl, Text::IssueCard), "Wydaj legitymację");
        assert_eq!(t(Language::En, Text::IssueCard), "Issue card");
    }
}
