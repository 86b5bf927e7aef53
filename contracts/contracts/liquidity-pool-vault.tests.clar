;; Rendezvous invariants for liquidity-pool-vault (fuzz/README.md): rendezvous appends this file to the vault's
;; source and deploys the result in the vault's place, so these functions see the vault's state and private
;; functions. The fuzzer calls random public functions (the vault's own and the `fz-` actions below) from the
;; simnet accounts, then checks one `invariant-` function.
;;
;; The `fz-` actions play the registry through the vault's `-for-policy` bodies (the registry checks its quote,
;; heights and statuses before it calls the vault; here any terms the vault accepts are fair game), and keep a
;; ghost ledger of every policy to compare with the vault's totals. Deposits and withdrawals made through
;; `fz-deposit` / `fz-withdraw` also watch another provider's values: the fairness property of
;; docs/provider-economics.md says they can never go down.

(define-constant FZ-TIERS (list "Conservative" "Balanced" "Aggressive"))
(define-constant FZ-PPM u1000000)
;; The simnet's accounts: every caller the fuzzer uses.
(define-constant FZ-ACCOUNTS (list
  'ST2XEFMB9NVPHTF5QD0M5XSS9S5MJ2K8FQ4J5QKWJ
  'STH2F0YQ4EY0F9KAK9DWTNHZMKVHVF71AQC25Y32
  'ST18W2WYJF48B6F0Z9YQ344ZX8J0BQ8C1B20G1V05
  'STFEHF1RN4KC5Q589CZBY396MK8Z6AT35G012FF8
  'ST27WR3RR6AGHC4SVGKA3EM1AD3QK2SX0WXM77HMG
  'ST1VYG76GTAKB7D119WKQG4K3S341G2V76K6ZJHWG
))

(define-data-var fz-next-policy uint u1)
;; status: u0 open, u1 settled, u2 expired
(define-map fz-policies
  uint
  {
    tier: (string-ascii 12),
    collateral: uint,
    premium: uint,
    paid: uint,
    released: uint,
    status: uint,
  }
)
;; Per tier: the collateral still locked and the premiums still pending by the ghost ledger.
(define-map fz-tier-ghost
  (string-ascii 12)
  {
    locked: uint,
    pending: uint,
  }
)
(define-data-var fz-donated uint u0)
;; Violations the actions saw (an action must succeed to keep its writes, so it records instead of failing).
(define-data-var fz-diluted bool false)
(define-data-var fz-round-trip-gain bool false)
(define-data-var fz-bad-close bool false)

;; 1 uSTX to 10^13 uSTX, spread over magnitudes (a uniform pick would almost always be huge).
(define-private (fz-amount (seed uint))
  (+ u1 (mod (/ seed u14) (pow u10 (mod seed u14))))
)

;; A share of `whole`: all of it for one seed in three (extremes find the edge cases), else a ppm share.
(define-private (fz-share
    (whole uint)
    (seed uint)
  )
  (if (is-eq (mod seed u3) u0)
    whole
    (/ (* whole (+ (mod seed FZ-PPM) u1)) FZ-PPM)
  )
)

(define-private (fz-tier (index uint))
  (unwrap-panic (element-at? FZ-TIERS (mod index u3)))
)

(define-private (fz-ghost (tier (string-ascii 12)))
  (default-to {
    locked: u0,
    pending: u0,
  }
    (map-get? fz-tier-ghost tier)
  )
)

(define-private (fz-values
    (tier (string-ascii 12))
    (who principal)
  )
  (unwrap-panic (get-provider-balance tier who))
)

;; ---------------------------------------------------------------------------------------------------------
;; actions

;; Opens a policy on a share (ppm) of the tier's free capital with a premium of a share of its collateral.
(define-public (fz-open-policy
    (tier-index uint)
    (collateral-ppm uint)
    (premium-ppm uint)
  )
  (let (
      (tier (fz-tier tier-index))
      (totals (unwrap-panic (tier-totals tier)))
      (free (- (get capital-ustx totals) (get locked-ustx totals)))
      (collateral (fz-share free collateral-ppm))
      (premium (if (> collateral u0)
        (+ u1 (fz-share (- collateral u1) premium-ppm))
        u1
      ))
      (id (var-get fz-next-policy))
      (ghost (fz-ghost tier))
    )
    (try! (lock-for-policy id tier collateral))
    (try! (premium-for-policy id tier premium tx-sender))
    (map-set fz-policies id {
      tier: tier,
      collateral: collateral,
      premium: premium,
      paid: u0,
      released: u0,
      status: u0,
    })
    (map-set fz-tier-ghost tier {
      locked: (+ (get locked ghost) collateral),
      pending: (+ (get pending ghost) premium),
    })
    (var-set fz-next-policy (+ id u1))
    (ok id)
  )
)

(define-private (fz-close
    (id uint)
    (paid uint)
  )
  (let (
      (policy (unwrap! (map-get? fz-policies id) (err u9001)))
      (tier (get tier policy))
      (ghost (fz-ghost tier))
      (released (try! (release-for-policy id)))
    )
    ;; one transition per policy, and every uSTX of its collateral either paid or released
    (if (or
        (not (is-eq (get status policy) u0))
        (> paid (get collateral policy))
        (not (is-eq (+ paid released) (get collateral policy)))
      )
      (var-set fz-bad-close true)
      true
    )
    (map-set fz-policies id
      (merge policy {
        paid: paid,
        released: released,
        status: (if (> paid u0)
          u1
          u2
        ),
      })
    )
    (map-set fz-tier-ghost tier {
      locked: (- (get locked ghost) (get collateral policy)),
      pending: (- (get pending ghost) (get premium policy)),
    })
    (ok released)
  )
)

;; Settles a policy (picked by index among those created) for a share (ppm) of its collateral, paid to tx-sender.
(define-public (fz-settle
    (index uint)
    (amount-ppm uint)
  )
  (let (
      (count (- (var-get fz-next-policy) u1))
      (id (+ u1 (mod index (if (> count u0)
        count
        u1
      ))))
      (policy (unwrap! (map-get? fz-policies id) (err u9001)))
      (amount (+ u1 (fz-share (- (get collateral policy) u1) amount-ppm)))
    )
    (try! (settle-for-policy id amount tx-sender))
    (fz-close id amount)
  )
)

(define-public (fz-expire (index uint))
  (let (
      (count (- (var-get fz-next-policy) u1))
      (id (+ u1 (mod index (if (> count u0)
        count
        u1
      ))))
    )
    (fz-close id u0)
  )
)

;; A deposit of 1 uSTX to 10^12 uSTX, watching `observer`'s values in the tier.
(define-public (fz-deposit
    (tier-index uint)
    (amount uint)
    (observer principal)
  )
  (let (
      (tier (fz-tier tier-index))
      (before (fz-values tier observer))
      (minted (try! (deposit tier (fz-amount amount))))
      (after (fz-values tier observer))
    )
    (if (and
        (not (is-eq observer tx-sender))
        (or
          (< (get value-ustx after) (get value-ustx before))
          (< (get withdrawable-ustx after) (get withdrawable-ustx before))
        )
      )
      (var-set fz-diluted true)
      true
    )
    (ok minted)
  )
)

;; A withdrawal of a share (ppm) of what the caller can withdraw, watching `observer`'s values in the tier.
(define-public (fz-withdraw
    (tier-index uint)
    (amount-ppm uint)
    (observer principal)
  )
  (let (
      (tier (fz-tier tier-index))
      (mine (fz-values tier tx-sender))
      (amount (fz-share (get withdrawable-ustx mine) amount-ppm))
      (before (fz-values tier observer))
      (burned (try! (withdraw tier amount)))
      (after (fz-values tier observer))
    )
    (if (and
        (not (is-eq observer tx-sender))
        (or
          (< (get value-ustx after) (get value-ustx before))
          (< (get withdrawable-ustx after) (get withdrawable-ustx before))
        )
      )
      (var-set fz-diluted true)
      true
    )
    (ok burned)
  )
)

;; Deposits, then values the shares just bought: neither at the bid nor at the ask are they worth more than
;; what was put in (a deposit never buys into value it did not pay for).
(define-public (fz-round-trip
    (tier-index uint)
    (amount uint)
  )
  (let (
      (tier (fz-tier tier-index))
      (put-in (fz-amount amount))
      (minted (try! (deposit tier put-in)))
      (totals (normalized (unwrap-panic (tier-totals tier))))
      (bid (value-of-shares minted (bid-value-of totals) (get total-shares totals)))
      (ask (value-of-shares minted (ask-value-of totals) (get total-shares totals)))
    )
    (if (or (> bid put-in) (> ask put-in))
      (var-set fz-round-trip-gain true)
      true
    )
    (ok minted)
  )
)

;; A plain STX transfer to the vault: counted as surplus, never part of a tier.
(define-public (fz-donate (amount uint))
  (let ((gift (fz-amount amount)))
    (try! (stx-transfer? gift tx-sender current-contract))
    (var-set fz-donated (+ (var-get fz-donated) gift))
    (ok gift)
  )
)

;; ---------------------------------------------------------------------------------------------------------
;; invariants

(define-private (fz-tier-sound
    (tier (string-ascii 12))
    (ok-so-far bool)
  )
  (let (
      (totals (unwrap-panic (tier-totals tier)))
      (ghost (fz-ghost tier))
    )
    (and
      ok-so-far
      (<= (get locked-ustx totals) (get capital-ustx totals))
      (is-eq (get locked-ustx totals) (get locked ghost))
      (is-eq (get pending-premiums-ustx totals) (get pending ghost))
    )
  )
)

;; Per tier: locked <= capital; locked and pending premiums equal the open policies' collateral and premiums.
(define-read-only (invariant-tiers-match-open-policies)
  (fold fz-tier-sound FZ-TIERS true)
)

;; The vault's STX balance = sum over tiers of (capital + pending premiums) + plain transfers (the surplus).
(define-read-only (invariant-balance-identity)
  (and
    (is-eq (get-surplus) (var-get fz-donated))
    (is-eq (stx-get-balance current-contract)
      (+ (var-get fz-donated)
        (fold + (map ask-value-of (map tier-totals-or-empty FZ-TIERS)) u0)
      ))
  )
)

(define-private (tier-totals-or-empty (tier (string-ascii 12)))
  (default-to EMPTY-TIER (tier-totals tier))
)

;; Only the registry can lock, book a premium, pay, release or sweep: no direct call by an account succeeded.
(define-read-only (invariant-only-registry-moves-collateral)
  (is-eq u0
    (+ (fz-called "lock-collateral") (fz-called "receive-premium") (fz-called "pay-settlement")
      (fz-called "release-collateral") (fz-called "sweep-surplus")
    ))
)

(define-private (fz-called (name (string-ascii 100)))
  (default-to u0 (get called (map-get? context name)))
)

;; Each policy closed once; its settlement within its collateral; collateral = paid + released.
(define-read-only (invariant-policies-close-soundly)
  (not (var-get fz-bad-close))
)

;; Fairness: no deposit or withdrawal lowered another provider's bid or ask value.
(define-read-only (invariant-no-dilution)
  (not (var-get fz-diluted))
)

;; No deposit could be taken out again for more than was put in.
(define-read-only (invariant-no-round-trip-gain)
  (not (var-get fz-round-trip-gain))
)

(define-private (fz-add-provider
    (who principal)
    (acc {
      tier: (string-ascii 12),
      shares: uint,
      value: uint,
      withdrawable: uint,
    })
  )
  (let ((b (fz-values (get tier acc) who)))
    (merge acc {
      shares: (+ (get shares acc) (get shares b)),
      value: (+ (get value acc) (get value-ustx b)),
      withdrawable: (+ (get withdrawable acc) (get withdrawable-ustx b)),
    })
  )
)

(define-private (fz-shares-covered
    (tier (string-ascii 12))
    (ok-so-far bool)
  )
  (let (
      (totals (normalized (unwrap-panic (tier-totals tier))))
      (sum (fold fz-add-provider FZ-ACCOUNTS {
        tier: tier,
        shares: u0,
        value: u0,
        withdrawable: u0,
      }))
    )
    (and
      ok-so-far
      (<= (get shares sum) (get total-shares totals))
      (<= (get value sum) (ask-value-of totals))
      (<= (get withdrawable sum) (bid-value-of totals))
      ;; bounded share math: at most 2^24 shares per uSTX of ask value once normalized
      (<= (get total-shares totals) (* (ask-value-of totals) CONSOLIDATION-FACTOR))
    )
  )
)

;; Providers' shares add up to at most the tier's; their values to at most the tier's (rounding favours the pool).
(define-read-only (invariant-providers-within-tier)
  (fold fz-shares-covered FZ-TIERS true)
)
