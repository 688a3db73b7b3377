//! Store hot paths at production size: the kiosk's UID lookup over 1,000,000 cards (target
//! p99 < 50 µs) and the desk's search-as-you-type over 200,000 people (target p99 < 10 ms
//! per keystroke, typing "kowalsk").
//!
//!     cargo bench --no-default-features --bench store

use std::time::{Duration, Instant};

use cardstation::store::{ImportedPerson, PersonFields, Store, UidKind};
use rusqlite::Connection;
use time::Date;

const PEOPLE: usize = 200_000;
const CARDS: usize = 1_000_000;
const LOOKUPS: usize = 100_000;
const SEARCHES_PER_KEYSTROKE: usize = 200;
const TYPED: &str = "kowalsk";
const RESULTS_SHOWN: usize = 20;

const FIRST_NAMES: &[&str] = &[
    "Anna",
    "Maria",
    "Katarzyna",
    "Małgorzata",
    "Agnieszka",
    "Barbara",
    "Ewa",
    "Łucja",
    "Zofia",
    "Żaneta",
    "Jan",
    "Piotr",
    "Krzysztof",
    "Andrzej",
    "Tomasz",
    "Paweł",
    "Michał",
    "Łukasz",
    "Marcin",
    "Stanisław",
    "Zdzisław",
    "Grzegorz",
    "Józef",
    "Jakub",
    "Mateusz",
];
const LAST_NAMES: &[&str] = &[
    "Nowak",
    "Kowalski",
    "Kowalska",
    "Wiśniewski",
    "Wiśniewska",
    "Wójcik",
    "Kowalczyk",
    "Kamiński",
    "Kamińska",
    "Lewandowski",
    "Zieliński",
    "Szymański",
    "Woźniak",
    "Dąbrowski",
    "Kozłowski",
    "Jankowski",
    "Mazur",
    "Kwiatkowski",
    "Krawczyk",
    "Piotrowski",
    "Grabowski",
    "Nowakowski",
    "Pawłowski",
    "Michalski",
    "Król",
    "Wieczorek",
    "Jabłoński",
    "Wróbel",
    "Majewski",
    "Olszewski",
    "Stępień",
    "Malinowski",
    "Jaworski",
    "Adamczyk",
    "Dudek",
    "Górski",
    "Pawlak",
    "Sikora",
    "Walczak",
    "Baran",
    "Rutkowski",
    "Michalak",
    "Szewczyk",
    "Ostrowski",
    "Tomaszewski",
    "Pietrzak",
    "Zalewski",
    "Wróblewski",
    "Jasiński",
    "Łódzki",
];

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("bench.sqlite");
    let mut store = Store::open(&path).expect("store");

    let started = Instant::now();
    import_people(&mut store);
    println!(
        "import of {PEOPLE} persons + cardholders (FTS, outbox, one transaction): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    insert_cards(&path);
    println!(
        "bulk insert of {CARDS} cards (one transaction, prepared statement): {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let store = Store::open(&path).expect("store");
    let status = store.status().expect("status");
    println!(
        "store: {} persons, {} cardholders, {} cards",
        status.persons, status.cardholders, status.cards
    );
    bench_uid_lookup(&store);
    bench_search(&store);
}

fn import_people(store: &mut Store) {
    let birth_date = Date::from_calendar_date(2001, time::Month::March, 14).expect("date");
    let rows: Vec<ImportedPerson> = (0..PEOPLE)
        .map(|n| ImportedPerson {
            line: n as u64 + 2,
            person: PersonFields {
                person_number: Some(format!("P-{n:07}")),
                first_name: FIRST_NAMES[n % FIRST_NAMES.len()].into(),
                middle_name: None,
                last_name: LAST_NAMES[(n / FIRST_NAMES.len()) % LAST_NAMES.len()].into(),
                birth_date,
                phone_number: None,
                mobile_number: None,
                album_number: Some(format!("{:06}", 100_000 + n)),
                pesel: None,
            },
            email: None,
        })
        .collect();
    let report = store
        .import_persons("bench", "bench", &rows)
        .expect("import");
    assert_eq!(report.imported, PEOPLE);
}

/// A 7-byte UID that looks random but is the same on every run.
fn contactless_uid(n: usize) -> [u8; 7] {
    let mixed = (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let bytes = mixed.to_be_bytes();
    [
        0x04, bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5],
    ]
}

/// Cards as the sync's pull would load them: straight into the table, no outbox rows.
fn insert_cards(path: &std::path::Path) {
    let mut conn = Connection::open(path).expect("raw connection");
    // Random UIDs land all over the unique index: keep it in memory while loading.
    conn.pragma_update(None, "cache_size", -512 * 1024)
        .expect("cache size");
    let tx = conn.transaction().expect("transaction");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO cards (cardholder_id, card_number, type, contactless_uid, status,
                    expires, updated_at)
                 VALUES (?1, ?2, 'student', ?3, 'activated', '2027-03-31', '2026-01-01T00:00:00Z')",
            )
            .expect("prepare");
        for n in 0..CARDS {
            insert
                .execute((
                    (n % PEOPLE) as i64 + 1,
                    format!("C{n:08}"),
                    hex::encode_upper(contactless_uid(n)),
                ))
                .expect("insert card");
        }
    }
    tx.commit().expect("commit");
}

fn bench_uid_lookup(store: &Store) {
    let mut timings = Vec::with_capacity(LOOKUPS);
    let mut misses = 0;
    for round in 0..LOOKUPS {
        // Every tenth tap is a card the store does not know.
        let n = (round * 7_919) % CARDS;
        let uid = if round % 10 == 9 {
            contactless_uid(CARDS + n)
        } else {
            contactless_uid(n)
        };
        let started = Instant::now();
        let card = store
            .find_card_by_uid(UidKind::Contactless, &uid)
            .expect("lookup");
        timings.push(started.elapsed());
        misses += usize::from(card.is_none());
    }
    assert_eq!(misses, LOOKUPS / 10);
    print_percentiles(
        &format!("UID lookup, {CARDS} cards, {LOOKUPS} taps (10% unknown)"),
        &mut timings,
    );
}

fn bench_search(store: &Store) {
    let mut all = Vec::new();
    for length in 1..=TYPED.len() {
        let prefix = &TYPED[..length];
        let mut timings = Vec::with_capacity(SEARCHES_PER_KEYSTROKE);
        let mut hits = 0;
        for _ in 0..SEARCHES_PER_KEYSTROKE {
            let started = Instant::now();
            hits = store
                .search_people(prefix, RESULTS_SHOWN)
                .expect("search")
                .len();
            timings.push(started.elapsed());
        }
        all.extend_from_slice(&timings);
        print_percentiles(&format!("search {prefix:<8} ({hits} shown)"), &mut timings);
    }
    print_percentiles(
        &format!("search per keystroke, {PEOPLE} people, typing {TYPED:?}"),
        &mut all,
    );
}

fn print_percentiles(label: &str, timings: &mut [Duration]) {
    timings.sort_unstable();
    let at = |fraction: f64| timings[((timings.len() - 1) as f64 * fraction) as usize];
    println!(
        "{label}: p50 {:?}  p99 {:?}  max {:?}",
        at(0.50),
        at(0.99),
        at(1.0)
    );
}
